//! The quorum client (SPEC §6 "Parallel quorum").
//!
//! Each operation opens its own UDP socket, sends its request to all N
//! servers of the key's preference list before reading anything, then
//! gathers replies until the quorum is met (it returns at once), can no longer
//! be met, or the deadline passes. Replies are matched by source address: a
//! datagram from any other address, or a second reply from the same server,
//! is ignored, and since the socket lives only as long as the operation a
//! late reply can never count for a later one.
//!
//! UDP loses datagrams, so while an operation is undecided the request is
//! sent again, with exponential backoff, to every server that has not
//! answered yet ([`RetryPolicy`]; schedule in `docs/RELIABILITY.md`). A
//! resend is the same datagram: gets are harmless, and puts are idempotent
//! under v1 (same key, same value). Whatever number of copies went out, a
//! server's first reply is the only one that counts.
//!
//! A server's requests can be routed through another address
//! ([`Client::set_route`], used to put a `fault_proxy` in front of it); its
//! replies are then accepted from that address only.
//!
//! Every operation records a [`Trace`]; an observer sees it after each change,
//! which is how the REPL and the TUI show a quorum forming.
//!
//! **Protocol v2** (`docs/PROTOCOL.md`, issue 7). By default
//! ([`ProtocolMode::Auto`]) a request goes out in v2 — with a random request
//! id, a reply counting only when it carries that id and is of a kind the
//! request can get ([`Message::answers`]); puts and deletes carry a version
//! from this process's hybrid logical clock and writer id. A server that
//! answers a v2 request with anything but a v2 datagram (a v1-only server
//! answers the empty refusal) is remembered as v1-only for the life of the
//! [`Client`] (clones share the memory), and the same operation is sent to
//! it again in v1 at once — from a second socket, so that refusals of
//! resent v2 copies can never be read as v1 replies. No extra round trip is
//! ever made to a v2 server or to a server already known. Gets follow the
//! version-aware read rule ([`crate::quorum::read_rule`]) and, when some
//! server answered an older version or "not found", send it the newest one
//! in the background (read repair, [`Client::finish_repairs`]). Deletes
//! write a versioned tombstone and cannot be sent to v1-only servers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dkvs::client::Client;
//! use dkvs::quorum::QuorumOptions;
//!
//! let client = Client::open("cluster.toml")?;
//! client.put(b"colour", b"blue", QuorumOptions::default().w(3)).await?;
//! let value = client.get(b"colour", QuorumOptions::default()).await?;
//! assert_eq!(value, b"blue");
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::config::{ClusterConfig, ConfigError};
use crate::hlc::{Hlc, SkewedClock};
use crate::limits::{AUTH_WINDOW_MS, AuthConfig};
use crate::protocol::{self, Dump, GetReply, PutReply};
use crate::protocol_v2::{self as v2, AuthKey, Dialect, Message};
use crate::quorum::{
    Newest, Quorum, QuorumError, QuorumOptions, ReadReply, ReadVerdict, newest, read_rule,
};
use crate::ring::Ring;
use crate::trace::{Failure, OpKind, ReplicaTrace, Reply, Restamp, Trace, Verdict};
use crate::version::Version;

/// Why a get or put through the simple API failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The options cannot be honoured by this ring.
    #[error("{0}")]
    Quorum(#[from] QuorumError),
    /// The key is absent (R servers said so).
    #[error("key not found")]
    NotFound,
    /// The quorum was not reached; the message says why.
    #[error("{0}")]
    Failed(String),
}

/// Receives the trace after each change (sent, each reply, verdict, end).
pub type Observer<'a> = &'a mut (dyn FnMut(&Trace) + Send);

/// When an operation re-sends its request to the servers that have not
/// answered yet.
///
/// Resend `k` (1-based) goes out `first · factor^(k-1)` after the previous
/// send, capped at `max_interval`, at most `max_resends` times, and only
/// while the operation is undecided and before its deadline. The default
/// ([`RetryPolicy::DEFAULT`]) resends after 50, 100, 200, 400, 400, … ms,
/// i.e. at 50, 150, 350, 750 ms after the first send: four resends within
/// the default 1000 ms deadline, five copies in all. See
/// `docs/RELIABILITY.md` for the measurements behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first resend.
    pub first: Duration,
    /// Each wait is the previous one times this (1 = constant).
    pub factor: u32,
    /// Upper bound on one wait.
    pub max_interval: Duration,
    /// How many resends at most (0 disables retransmission).
    pub max_resends: u32,
}

impl RetryPolicy {
    /// 50 ms, doubling, capped at 400 ms, at most 16 resends.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        first: Duration::from_millis(50),
        factor: 2,
        max_interval: Duration::from_millis(400),
        max_resends: 16,
    };

    /// No retransmission: exactly one request per server and operation.
    pub const DISABLED: RetryPolicy = RetryPolicy {
        first: Duration::ZERO,
        factor: 1,
        max_interval: Duration::ZERO,
        max_resends: 0,
    };

    /// The wait before resend number `resend` (1-based), `None` past
    /// `max_resends`.
    pub fn interval(&self, resend: u32) -> Option<Duration> {
        if resend == 0 || resend > self.max_resends {
            return None;
        }
        let mut wait = self.first;
        for _ in 1..resend {
            if wait >= self.max_interval {
                break;
            }
            wait = wait.saturating_mul(self.factor);
        }
        Some(wait.min(self.max_interval))
    }

    /// Times of the resends after the first send that fall before
    /// `deadline` (the whole schedule of one operation that never hears back).
    pub fn schedule(&self, deadline: Duration) -> Vec<Duration> {
        let mut at = Duration::ZERO;
        let mut times = Vec::new();
        for k in 1..=self.max_resends {
            let Some(wait) = self.interval(k) else { break };
            at = at.saturating_add(wait);
            if at >= deadline {
                break;
            }
            times.push(at);
        }
        times
    }
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy::DEFAULT
    }
}

/// Which protocol a [`Client`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolMode {
    /// v2 first; a server that answers v2 with a non-v2 datagram is
    /// remembered as v1-only and spoken to in v1 (the default).
    #[default]
    Auto,
    /// SPEC §4 only, exactly as before v2: no versions, no delete.
    V1,
}

/// Read repair reports kept for [`Client::finish_repairs`] at most.
pub const MAX_REPAIR_REPORTS: usize = 1024;

/// Read repairs started by gets and not yet collected.
type PendingRepairs = Arc<std::sync::Mutex<Vec<tokio::sync::oneshot::Receiver<Option<Trace>>>>>;

/// After a write's verdict, how long at least its socket keeps listening
/// for the refusals of servers whose protocol is unknown, to send them the
/// v1 request (see [`Client::finish_repairs`]); at most until the deadline,
/// and longer (10 times the slowest reply) on slow networks.
pub const FALLBACK_LINGER: Duration = Duration::from_millis(20);

/// After a write's verdict, how long at least a silent home server has to
/// answer before the client leaves a hint for it on the next server of the
/// ring (at most until the deadline; ten times the slowest reply when that
/// is longer).
pub const HINT_AFTER: Duration = Duration::from_millis(20);

/// Whether a write that one of the key's home servers did not answer
/// leaves a hint on the next server of the ring (hinted handoff, issue 8;
/// `docs/PROTOCOL.md`, "Hinted handoff"). DECISIONS explains the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HintMode {
    /// No hints: a silent server catches up by read repair or
    /// anti-entropy only.
    Off,
    /// After the verdict, each home server still silent after
    /// [`HINT_AFTER`] gets a hint on the next server of the ring. Hints
    /// never count toward W (strict quorum: SPEC §6 counts the N home
    /// servers only). The default.
    #[default]
    Store,
    /// Sloppy quorum (Dynamo's): at the operation's first resend, while W
    /// is not reached, each silent home server's write goes to the next
    /// server of the ring as a HINT, and that server's acknowledgement
    /// counts toward W (it then appears in the operation's trace).
    Count,
}

impl std::str::FromStr for HintMode {
    type Err = String;

    fn from_str(s: &str) -> Result<HintMode, String> {
        match s {
            "off" => Ok(HintMode::Off),
            "store" => Ok(HintMode::Store),
            "count" => Ok(HintMode::Count),
            other => Err(format!("hints must be off, store or count, not {other:?}")),
        }
    }
}

/// The hints one write leaves (see [`Client::linger`]).
#[derive(Debug)]
struct HintJob {
    id: u64,
    kind: OpKind,
    key: Vec<u8>,
    written: Option<Vec<u8>>,
    version: Version,
    quorum: Quorum,
    /// Home servers that have not answered: index, configured address,
    /// where requests go.
    silent: Vec<(usize, SocketAddrV4, SocketAddrV4)>,
    /// The servers after the home servers on the ring, in order.
    holders: Vec<ReplicaTrace>,
    /// The operation's deadline: hint work ends by then too, so a
    /// one-shot client never outlives its deadline for hints.
    deadline: Instant,
}

/// A client of one cluster.
#[derive(Debug, Clone)]
pub struct Client {
    config: Arc<ClusterConfig>,
    ring: Arc<Ring>,
    timeout: Duration,
    complete_traces: bool,
    retry: RetryPolicy,
    /// Per server index, another address to send its requests to (a fault
    /// proxy); the trace and the ring keep the configured address.
    routes: Arc<HashMap<usize, SocketAddrV4>>,
    mode: ProtocolMode,
    /// The protocol each server was found to speak (by index) and when,
    /// shared by clones: v2 is kept for the life of the client, v1-only
    /// for [`V1_ONLY_RECHECK`] (the server may be upgraded meanwhile).
    dialects: Arc<std::sync::Mutex<HashMap<usize, (Dialect, Instant)>>>,
    /// How long a v1-only mark holds ([`V1_ONLY_RECHECK`] by default).
    v1_recheck: Duration,
    /// Hinted handoff ([`HintMode::Store`] by default).
    hints: HintMode,
    /// The clock giving puts and deletes their versions.
    clock: Arc<Hlc<SkewedClock>>,
    repairs: PendingRepairs,
    /// The key that signs every request (`--key-file`): v2 only, never v1.
    key: Option<AuthKey>,
    /// With a key: how replies are checked (DECISIONS #75).
    replies: ReplyAuth,
}

/// How a client with a key checks the replies it gets: the keys it accepts
/// (its signing key and every other key of its key file, so that key
/// rotation works as for servers) and the replay window; and how many
/// replies it has ignored as not authentic, shared by clones.
#[derive(Debug, Clone, Default)]
struct ReplyAuth {
    accepted: Arc<[AuthKey]>,
    window_ms: u64,
    rejected: Arc<AtomicU64>,
}

impl ReplyAuth {
    /// Accepts `signer` and the other keys of `file` (ids not already
    /// taken by `signer`), with `file`'s window or the default one.
    fn new(signer: Option<&AuthKey>, file: Option<&AuthConfig>) -> ReplyAuth {
        let others = file.map(|f| &f.keys[..]).unwrap_or_default();
        let accepted = signer
            .into_iter()
            .chain(
                others
                    .iter()
                    .filter(|k| signer.is_none_or(|s| s.id() != k.id())),
            )
            .cloned()
            .collect();
        ReplyAuth {
            accepted,
            window_ms: file.map_or(AUTH_WINDOW_MS, |f| f.window_ms),
            rejected: Arc::default(),
        }
    }
}

/// The clock of this process: one random writer id for every client the
/// process makes, so two clients of one process never issue the same
/// version for different values.
static PROCESS_CLOCK: std::sync::LazyLock<Arc<Hlc<SkewedClock>>> =
    std::sync::LazyLock::new(|| Arc::new(Hlc::new(random_writer(), SkewedClock::default())));

/// How many times one put or delete is re-stamped at most when servers
/// keep a newer version (each costs one more round trip); past that the
/// write fails as superseded: another writer keeps writing the key.
pub const MAX_RESTAMPS: usize = 3;

/// How long a server found v1-only is spoken to in v1 before the client
/// asks it in v2 again (a rolling upgrade to v2 is noticed within this
/// time; a server still v1-only costs one more round trip per period).
pub const V1_ONLY_RECHECK: Duration = Duration::from_secs(60);

/// A random non-zero writer id (zero is the writer of [`Version::ZERO`]).
fn random_writer() -> u64 {
    use rand::RngExt;
    let mut rng = rand::rng();
    loop {
        let id: u64 = rng.random();
        if id != 0 {
            return id;
        }
    }
}

impl Client {
    /// Reads a `servers.txt` or `cluster.toml` and builds its ring.
    pub fn open(path: impl AsRef<Path>) -> Result<Client, ConfigError> {
        Ok(Client::new(ClusterConfig::load(path.as_ref())?))
    }

    /// A client of an already-loaded configuration.
    pub fn new(config: ClusterConfig) -> Client {
        let ring = Ring::new(&config);
        let timeout = Duration::from_millis(config.defaults.timeout_ms);
        let key = config
            .defaults
            .keys
            .as_ref()
            .and_then(|k| k.signer())
            .cloned();
        let replies = ReplyAuth::new(key.as_ref(), config.defaults.keys.as_ref());
        Client {
            config: Arc::new(config),
            ring: Arc::new(ring),
            timeout,
            complete_traces: false,
            retry: RetryPolicy::DEFAULT,
            routes: Arc::default(),
            mode: ProtocolMode::Auto,
            dialects: Arc::default(),
            v1_recheck: V1_ONLY_RECHECK,
            hints: HintMode::default(),
            clock: PROCESS_CLOCK.clone(),
            repairs: Arc::default(),
            replies,
            key,
        }
    }

    /// Chooses the protocol ([`ProtocolMode::Auto`] by default).
    pub fn with_protocol(mut self, mode: ProtocolMode) -> Client {
        self.mode = mode;
        self
    }

    /// Signs every request with `key` (the first key of a key file). A
    /// client with a key speaks only v2 and never falls back to v1: a server
    /// answering a signed request with a non-v2 datagram counts as a
    /// refusal ([`Reply::V1Only`]), since falling back would send the
    /// request unauthenticated to anyone able to forge one refusal
    /// (DECISIONS #65). Requests that only v1 can carry fail.
    ///
    /// With a key, every v2 reply is checked too: one that is unsigned,
    /// signed with a key that is neither `key` nor another key of the
    /// configuration's key file, wrongly signed, or signed outside the
    /// replay window is ignored like a foreign datagram (counted in
    /// [`Client::rejected_replies`], logged at debug), so a forged reply
    /// cannot answer for a server (DECISIONS #75).
    pub fn with_key(mut self, key: Option<AuthKey>) -> Client {
        self.replies = ReplyAuth::new(key.as_ref(), self.config.defaults.keys.as_ref());
        self.key = key;
        self
    }

    /// `Err` with the reason when no request of this client can be sent:
    /// [`ProtocolMode::V1`] with a key, since v1 requests cannot be signed
    /// (and a keyed server drops them). The command-line tools turn it
    /// into a usage error before sending anything.
    pub fn check_protocol(&self) -> Result<(), String> {
        if self.mode == ProtocolMode::V1 && self.key.is_some() {
            return Err(format!(
                "--protocol v1 cannot be used with a key (--key-file, {} or key_file): v1 requests cannot be signed; drop --protocol v1, or the key for an unkeyed cluster",
                crate::limits::KEY_FILE_ENV
            ));
        }
        Ok(())
    }

    /// The key signing this client's requests, if any.
    pub fn key(&self) -> Option<&AuthKey> {
        self.key.as_ref()
    }

    /// How many replies this client (and its clones) ignored because they
    /// were not authentic (only a client with a key checks).
    pub fn rejected_replies(&self) -> u64 {
        self.replies.rejected.load(Ordering::Relaxed)
    }

    /// Whether a datagram from `from` may be taken as a reply: always
    /// without a key; with one, only a v2 datagram signed with an accepted
    /// key within the window (`protocol_v2::verify`). A rejected one is
    /// counted and logged at debug.
    fn authentic(&self, datagram: &[u8], from: SocketAddrV4) -> bool {
        if self.key.is_none() {
            return true;
        }
        let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        match v2::verify(
            datagram,
            &self.replies.accepted,
            now_ms,
            self.replies.window_ms,
        ) {
            Ok(_) => true,
            Err(error) => {
                self.replies.rejected.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, %error, "ignored a reply that is not authentic");
                false
            }
        }
    }

    /// `plan` as this client sends it: unchanged without a key; otherwise
    /// its v2 request signed now and no v1 request (an error when there is
    /// no v2 request: v1 mode, or a pair too large for a signed datagram).
    fn sign(&self, plan: Result<Plan, String>) -> Result<Plan, String> {
        let (Some(key), Ok(plan)) = (&self.key, &plan) else {
            return plan;
        };
        let unsigned = plan
            .v2
            .as_deref()
            .ok_or("a client with a key speaks only protocol v2, and this request needs v1")?;
        let frame = v2::decode(unsigned).map_err(|e| e.to_string())?;
        let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        let signed = v2::encode(frame.id, &frame.message, Some((key, now_ms)))
            .map_err(|e| format!("cannot sign the request: {e}"))?;
        Ok(Plan {
            id: plan.id,
            opcode: plan.opcode,
            v1: None,
            v2: Some(signed),
            restamp: plan.restamp,
        })
    }

    /// The protocol mode.
    pub fn protocol(&self) -> ProtocolMode {
        self.mode
    }

    /// Gives this client its own clock with writer id `writer` instead of
    /// the process's random one (tests; two clients must never share an id
    /// with separate clocks, or they could issue equal versions).
    pub fn with_writer(mut self, writer: u64) -> Client {
        let offset = self.clock.clock().offset_ms();
        self.clock = Arc::new(Hlc::new(writer, SkewedClock::new(offset)));
        self
    }

    /// Gives this client its own clock (same writer id), `offset_ms` ahead
    /// of the system's (negative: behind): a clock set wrong on purpose,
    /// for tests and demonstrations of clock skew.
    pub fn with_clock_offset(mut self, offset_ms: i64) -> Client {
        self.clock = Arc::new(Hlc::new(self.writer(), SkewedClock::new(offset_ms)));
        self
    }

    /// Moves this client's clock (and its clones') to `offset_ms` from the
    /// system's and forgets the timestamps it issued or saw, as a process
    /// started with that clock would (REPL `skew`).
    pub fn set_clock_offset(&self, offset_ms: i64) {
        self.clock.clock().set_offset_ms(offset_ms);
        self.clock.reset();
    }

    /// How far this client's clock is set from the system's, in ms.
    pub fn clock_offset_ms(&self) -> i64 {
        self.clock.clock().offset_ms()
    }

    /// The writer id stamped on this client's versions.
    pub fn writer(&self) -> u64 {
        self.clock.writer()
    }

    /// The protocol server `server` (index in the configuration) was found
    /// to speak, `None` while unknown.
    pub fn dialect(&self, server: usize) -> Option<Dialect> {
        match self.mode {
            ProtocolMode::V1 => Some(Dialect::V1),
            ProtocolMode::Auto => {
                let (dialect, learned) = *self.dialects.lock().ok()?.get(&server)?;
                // A v1-only mark expires: the next operation asks in v2
                // again (one more round trip if it is still v1-only).
                (dialect == Dialect::V2 || learned.elapsed() < self.v1_recheck).then_some(dialect)
            }
        }
    }

    fn learn(&self, server: usize, dialect: Dialect) {
        if let Ok(mut known) = self.dialects.lock()
            && known
                .insert(server, (dialect, Instant::now()))
                .map(|(d, _)| d)
                != Some(dialect)
        {
            tracing::debug!(server, ?dialect, "server protocol learned");
        }
    }

    /// Waits for the work operations left running after their verdict and
    /// returns the traces of the read repairs among it, oldest first: read
    /// repairs started by gets (each bounded by the operation deadline),
    /// and writes still delivering their v1 request to servers found
    /// v1-only after the verdict (bounded by [`FALLBACK_LINGER`]). A
    /// one-shot process calls it before exiting, after printing its answer.
    pub async fn finish_repairs(&self) -> Vec<Trace> {
        let pending = match self.repairs.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Vec::new(),
        };
        let mut done = Vec::new();
        for rx in pending {
            if let Ok(Some(trace)) = rx.await {
                done.push(trace);
            }
        }
        done
    }

    /// Keeps the receiver of some background work for
    /// [`Client::finish_repairs`].
    fn track(&self, rx: tokio::sync::oneshot::Receiver<Option<Trace>>) {
        if let Ok(mut pending) = self.repairs.lock() {
            // A client nobody asks (a benchmark, a load generator) keeps
            // only the latest; the work itself still runs.
            if pending.len() >= MAX_REPAIR_REPORTS {
                pending.drain(..MAX_REPAIR_REPORTS / 2);
            }
            pending.push(rx);
        }
    }

    /// After the verdict, servers asked in v2 that have not answered and
    /// whose protocol is unknown may be v1-only servers whose refusal is on
    /// its way. A v1 server used to get every put even when it answered
    /// after the verdict; so the operation's socket keeps listening in the
    /// background (until the deadline, at most [`FALLBACK_LINGER`] or ten
    /// times the slowest reply after now) and sends a refusing server the
    /// v1 request once, as the v1 request would have been sent once;
    /// replies tell the protocol of the others. Writes are tracked for
    /// [`Client::finish_repairs`]; a get only learns protocols.
    ///
    /// A write's home servers still silent after [`HINT_AFTER`] (or ten
    /// times the slowest reply) get a hint: the next servers of the ring
    /// are sent a HINT each (hinted handoff, [`HintMode`]), and the report
    /// of that joins [`Client::finish_repairs`].
    fn linger(
        &self,
        socket: OpSocket,
        trace: &Trace,
        routes: &[SocketAddrV4],
        lanes: &[Lane],
        plan: &Plan,
        deadline: Instant,
    ) {
        let mut probing: Vec<(usize, SocketAddrV4)> = trace
            .replicas
            .iter()
            .zip(routes)
            .zip(lanes)
            .filter(|((r, _), lane)| {
                **lane == Lane::V2 && r.reply.is_none() && self.dialect(r.server).is_none()
            })
            .map(|((r, to), _)| (r.server, *to))
            .collect();
        let mut hints = self.hint_job(trace, routes, lanes, plan.id, deadline);
        if probing.is_empty() && hints.is_none() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let slowest = trace.replicas.iter().filter_map(|r| r.latency).max();
        let wait = if hints.is_some() {
            HINT_AFTER
        } else {
            FALLBACK_LINGER
        };
        let linger = slowest.map_or(wait, |s| s.saturating_mul(10)).max(wait);
        let until = deadline.min(Instant::now() + linger);
        let v1 = if trace.kind == OpKind::Get {
            None
        } else {
            plan.v1.clone()
        };
        let tracked = v1.is_some() || hints.is_some();
        let (id, client) = (plan.id, self.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let mut buf = vec![0u8; 65536];
            let listening = |probing: &Vec<(usize, SocketAddrV4)>, hints: &Option<HintJob>| {
                !probing.is_empty() || hints.as_ref().is_some_and(|h| !h.silent.is_empty())
            };
            while listening(&probing, &hints) {
                let (len, from) =
                    match tokio::time::timeout_at(until, socket.recv_from(&mut buf)).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) if is_transient(&e) => continue,
                        _ => break,
                    };
                let SocketAddr::V4(from) = from else { continue };
                let datagram = buf.get(..len).unwrap_or_default();
                if !client.authentic(datagram, from) {
                    continue;
                }
                // A home server answering late needs no hint.
                if let Some(job) = hints.as_mut() {
                    job.silent.retain(|(_, _, route)| *route != from);
                }
                let Some(k) = probing.iter().position(|(_, to)| *to == from) else {
                    continue;
                };
                let server = probing.get(k).map_or(0, |p| p.0);
                if v2::dialect(datagram) == Dialect::V2 {
                    if !v2::decode(datagram).is_ok_and(|f| f.id == id) {
                        continue;
                    }
                    client.learn(server, Dialect::V2);
                } else {
                    client.learn(server, Dialect::V1);
                    if let Some(request) = &v1
                        && let Err(e) = socket.send_to(request, from).await
                    {
                        tracing::debug!(addr = %from, "late v1 request failed: {e}");
                    }
                }
                probing.swap_remove(k);
            }
            let report = match hints {
                Some(job) if !job.silent.is_empty() => client.send_hints(&socket, job).await,
                _ => None,
            };
            let _ = tx.send(report);
        });
        if tracked {
            self.track(rx);
        }
    }

    /// The hints a write would leave if its silent home servers stay
    /// silent: `None` for gets, with [`HintMode::Off`], without a version
    /// (a v1 write), or when no server is silent or none is left on the
    /// ring to hold a hint.
    fn hint_job(
        &self,
        trace: &Trace,
        routes: &[SocketAddrV4],
        lanes: &[Lane],
        id: u64,
        deadline: Instant,
    ) -> Option<HintJob> {
        // No hints once the deadline passed (a write that timed out): the
        // hint work would outlive the operation.
        if self.hints == HintMode::Off || !trace.kind.is_write() || Instant::now() >= deadline {
            return None;
        }
        let version = trace.version?;
        // Servers already holding a hint of this operation (sent during it,
        // HintMode::Count), and the home servers they hold it for.
        let holding: Vec<&ReplicaTrace> = trace
            .replicas
            .iter()
            .filter(|r| r.hint_for.is_some())
            .collect();
        let silent: Vec<(usize, SocketAddrV4, SocketAddrV4)> = trace
            .replicas
            .iter()
            .zip(routes)
            .zip(lanes)
            .filter(|((r, _), lane)| {
                **lane == Lane::V2
                    && r.reply.is_none()
                    && !holding.iter().any(|h| h.hint_for == Some(r.addr))
            })
            .map(|((r, to), _)| (r.server, r.addr, *to))
            .collect();
        if silent.is_empty() {
            return None;
        }
        let home = trace.replicas.len() - holding.len();
        let wanted = (home + holding.len() + silent.len()).min(self.config.server_count());
        let holders: Vec<ReplicaTrace> = self
            .replicas_for(&trace.key, wanted)
            .into_iter()
            .skip(home)
            .filter(|h| {
                self.dialect(h.server) != Some(Dialect::V1)
                    && !holding.iter().any(|r| r.server == h.server)
            })
            .collect();
        if holders.is_empty() {
            return None;
        }
        Some(HintJob {
            id,
            kind: trace.kind,
            key: trace.key.clone(),
            written: trace.written.clone(),
            version,
            quorum: trace.quorum,
            silent,
            holders,
            deadline,
        })
    }

    /// [`HintMode::Count`], at the operation's first resend: each silent
    /// home server's write goes to a holder as a HINT, and the holder joins
    /// the operation (its acknowledgement counts toward W).
    fn hint_now(
        &self,
        trace: &mut Trace,
        routes: &mut Vec<SocketAddrV4>,
        lanes: &mut Vec<Lane>,
        datagrams: &mut Vec<Vec<u8>>,
        id: u64,
        deadline: Instant,
    ) {
        if trace.verdict != Verdict::Pending {
            return;
        }
        let Some(job) = self.hint_job(trace, routes, lanes, id, deadline) else {
            return;
        };
        for ((_, owner, _), mut holder) in job.silent.iter().zip(job.holders.clone()) {
            let Some(datagram) = self.hint_datagram(&job, *owner) else {
                continue;
            };
            holder.hint_for = Some(*owner);
            routes.push(
                self.routes
                    .get(&holder.server)
                    .copied()
                    .unwrap_or(holder.addr),
            );
            lanes.push(Lane::Hint(datagrams.len()));
            datagrams.push(datagram);
            trace.replicas.push(holder);
        }
    }

    /// The HINT datagram of `job` for home server `owner`.
    fn hint_datagram(&self, job: &HintJob, owner: SocketAddrV4) -> Option<Vec<u8>> {
        let message = v2::Message::Hint {
            owner,
            key: &job.key,
            value: match job.kind {
                OpKind::Delete => None,
                _ => Some(job.written.as_deref().unwrap_or_default()),
            },
            version: job.version,
        };
        let now_ms = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        v2::encode(job.id, &message, self.key.as_ref().map(|k| (k, now_ms))).ok()
    }

    /// Sends each still-silent home server's hint to a holder (the next
    /// servers of the ring, in order) and gathers their answers, resending
    /// as the retry policy says, until the operation deadline from now.
    /// The report: one line per holder, marked with the home server it
    /// holds for.
    async fn send_hints(&self, socket: &OpSocket, job: HintJob) -> Option<Trace> {
        let start = Instant::now();
        let deadline = job.deadline;
        if start >= deadline {
            return None;
        }
        let mut holders = Vec::new();
        for ((_, owner, _), mut holder) in job.silent.iter().zip(job.holders.clone()) {
            let Some(datagram) = self.hint_datagram(&job, *owner) else {
                continue;
            };
            let route = self
                .routes
                .get(&holder.server)
                .copied()
                .unwrap_or(holder.addr);
            holder.hint_for = Some(*owner);
            holders.push((holder, route, datagram));
        }
        let mut report = Trace {
            kind: job.kind,
            key: job.key.clone(),
            written: job.written.clone(),
            quorum: job.quorum,
            replicas: Vec::new(),
            verdict: Verdict::Pending,
            value: None,
            decided_after: None,
            finished: true,
            version: Some(job.version),
            restamps: Vec::new(),
        };
        for (holder, route, datagram) in &mut holders {
            if let Err(e) = socket.send_to(datagram, &*route).await {
                holder.reply = Some(Reply::SendFailed(e.to_string()));
            }
        }
        let mut buf = vec![0u8; 2048];
        let mut resends = 0u32;
        let mut next_resend = self.retry.interval(1).map(|wait| start + wait);
        while holders.iter().any(|(h, ..)| h.reply.is_none()) {
            let wake = match next_resend {
                Some(at) if at < deadline => at,
                _ => deadline,
            };
            let (len, from) = match tokio::time::timeout_at(wake, socket.recv_from(&mut buf)).await
            {
                Ok(Ok(r)) => r,
                Ok(Err(e)) if is_transient(&e) => continue,
                Err(_) if wake < deadline => {
                    resends += 1;
                    for (holder, route, datagram) in &holders {
                        if holder.reply.is_none() {
                            let _ = socket.send_to(datagram, route).await;
                        }
                    }
                    next_resend = self.retry.interval(resends + 1).map(|wait| wake + wait);
                    continue;
                }
                _ => break,
            };
            let SocketAddr::V4(from) = from else { continue };
            let datagram = buf.get(..len).unwrap_or_default();
            if !self.authentic(datagram, from) {
                continue;
            }
            let Some((holder, ..)) = holders
                .iter_mut()
                .find(|(h, route, _)| *route == from && h.reply.is_none())
            else {
                continue;
            };
            if v2::dialect(datagram) != Dialect::V2 {
                // A v1-only holder's empty refusal: it cannot keep hints.
                self.learn(holder.server, Dialect::V1);
                holder.reply = Some(Reply::Refused(None));
                holder.dialect = Some(Dialect::V1);
                holder.latency = Some(start.elapsed());
                continue;
            }
            let Ok(frame) = v2::decode(datagram) else {
                continue;
            };
            if frame.id != job.id {
                continue;
            }
            let (reply, version) = v2_reply(&frame.message, v2::opcode::HINT, datagram);
            holder.counted = reply.holds();
            holder.reply = Some(reply);
            holder.version = version;
            holder.dialect = Some(Dialect::V2);
            holder.latency = Some(start.elapsed());
        }
        for (holder, ..) in &mut holders {
            if holder.reply.is_none() {
                holder.reply = Some(Reply::Timeout);
            }
        }
        report.replicas = holders.into_iter().map(|(h, ..)| h).collect();
        let all = report.replicas.iter().all(|r| r.counted);
        report.verdict = if all {
            Verdict::Reached
        } else {
            Verdict::Failed(Failure::NotEnough)
        };
        report.decided_after = Some(start.elapsed());
        Some(report)
    }

    /// Sends the requests meant for server `server` (index in the
    /// configuration) to `via` instead — a fault proxy in front of it — and
    /// accepts its replies from there; `None` goes back to the server
    /// itself. Traces still name the configured address. Dumps are not
    /// routed.
    pub fn set_route(&mut self, server: usize, via: Option<SocketAddrV4>) {
        let routes = Arc::make_mut(&mut self.routes);
        match via {
            Some(addr) => routes.insert(server, addr),
            None => routes.remove(&server),
        };
    }

    /// Where requests for server `server` go (its address unless routed).
    pub fn destination(&self, server: usize) -> Option<SocketAddrV4> {
        self.routes
            .get(&server)
            .copied()
            .or_else(|| self.config.servers.get(server).map(|s| s.addr()))
    }

    /// Sets the retransmission policy ([`RetryPolicy::DISABLED`] for exactly
    /// one request per server).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Client {
        self.retry = retry;
        self
    }

    /// The retransmission policy.
    pub fn retry(&self) -> RetryPolicy {
        self.retry
    }

    /// Sets the operation deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// Sets whether writes leave hints for silent home servers
    /// ([`HintMode::Store`] by default).
    pub fn with_hints(mut self, hints: HintMode) -> Client {
        self.hints = hints;
        self
    }

    /// Sets how long a server found v1-only is spoken to in v1 before it is
    /// asked in v2 again ([`V1_ONLY_RECHECK`] by default).
    pub fn with_v1_recheck(mut self, recheck: Duration) -> Client {
        self.v1_recheck = recheck;
        self
    }

    /// When true, an operation keeps listening after its verdict until every
    /// server answered or the deadline passed, so traces show late replies
    /// too. The verdict itself is never delayed. Off by default.
    pub fn with_complete_traces(mut self, complete: bool) -> Client {
        self.complete_traces = complete;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// The ring.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The operation deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Resolves options against the ring (SPEC §6 rules).
    pub fn quorum(&self, options: QuorumOptions) -> Result<Quorum, QuorumError> {
        options.resolve(&self.config.defaults, self.config.server_count())
    }

    /// Quorum read: the value R servers agree on.
    pub async fn get(&self, key: &[u8], options: QuorumOptions) -> Result<Vec<u8>, OpError> {
        let trace = self
            .get_traced(key, self.quorum(options)?, &mut |_| {})
            .await;
        into_result(trace).map(|v| v.unwrap_or_default())
    }

    /// Quorum write: succeeds once W servers stored the value.
    pub async fn put(
        &self,
        key: &[u8],
        value: &[u8],
        options: QuorumOptions,
    ) -> Result<(), OpError> {
        let trace = self
            .put_traced(key, value, self.quorum(options)?, &mut |_| {})
            .await;
        into_result(trace).map(drop)
    }

    /// Quorum delete: succeeds once W servers stored the tombstone.
    pub async fn delete(&self, key: &[u8], options: QuorumOptions) -> Result<(), OpError> {
        let trace = self
            .delete_traced(key, self.quorum(options)?, &mut |_| {})
            .await;
        into_result(trace).map(drop)
    }

    /// Quorum read with its full trace. Servers that answered an older
    /// version or "not found" are then sent the newest one in the
    /// background (read repair: see [`Client::finish_repairs`]); the trace
    /// marks them ([`ReplicaTrace::repair`]).
    pub async fn get_traced(&self, key: &[u8], quorum: Quorum, observer: Observer<'_>) -> Trace {
        let replicas = self.replicas_for(key, quorum.n);
        let plan = self.sign(Plan::get(key, self.wants_v2(&replicas)));
        let mut trace = self
            .run(
                OpKind::Get,
                key,
                None,
                None,
                replicas,
                quorum,
                plan,
                observer,
            )
            .await;
        self.repair(&mut trace);
        trace
    }

    /// Quorum write with its full trace.
    pub async fn put_traced(
        &self,
        key: &[u8],
        value: &[u8],
        quorum: Quorum,
        observer: Observer<'_>,
    ) -> Trace {
        let replicas = self.replicas_for(key, quorum.n);
        let version = self.wants_v2(&replicas).then(|| self.clock.version());
        let plan = self
            .sign(Plan::put(key, value, version, self.key.is_none()))
            .map(Plan::restampable);
        let written = Some(value.to_vec());
        self.run(
            OpKind::Put,
            key,
            written,
            version,
            replicas,
            quorum,
            plan,
            observer,
        )
        .await
    }

    /// Quorum delete with its full trace: a tombstone with a new version,
    /// quorum W. A server that speaks only v1 cannot delete: it gets
    /// nothing and counts as a refusal ([`Reply::V1Only`]).
    pub async fn delete_traced(&self, key: &[u8], quorum: Quorum, observer: Observer<'_>) -> Trace {
        let version = (self.mode == ProtocolMode::Auto).then(|| self.clock.version());
        let plan = self.sign(Plan::delete(key, version)).map(Plan::restampable);
        let replicas = self.replicas_for(key, quorum.n);
        self.run(
            OpKind::Delete,
            key,
            None,
            version,
            replicas,
            quorum,
            plan,
            observer,
        )
        .await
    }

    /// Whether any of these servers may be spoken to in v2 (none when all
    /// are known to be v1-only, or in v1 mode): no v2 request is encoded
    /// otherwise.
    fn wants_v2(&self, replicas: &[ReplicaTrace]) -> bool {
        self.mode == ProtocolMode::Auto
            && (self.key.is_some()
                || replicas
                    .iter()
                    .any(|r| self.dialect(r.server) != Some(Dialect::V1)))
    }

    /// The traces of the key's first `n` distinct servers, none asked yet.
    fn replicas_for(&self, key: &[u8], n: usize) -> Vec<ReplicaTrace> {
        self.ring
            .replicas(key, n)
            .into_iter()
            .filter_map(|r| {
                // The ring is built from this configuration: every index exists.
                let addr = self.config.servers.get(r.server)?.addr();
                Some(ReplicaTrace::new(
                    r.server,
                    addr,
                    r.ring_index,
                    r.node_number,
                ))
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        kind: OpKind,
        key: &[u8],
        written: Option<Vec<u8>>,
        version: Option<Version>,
        replicas: Vec<ReplicaTrace>,
        quorum: Quorum,
        plan: Result<Plan, String>,
        observer: Observer<'_>,
    ) -> Trace {
        let mut trace = Trace {
            kind,
            key: key.to_vec(),
            written,
            quorum,
            replicas,
            verdict: Verdict::Pending,
            value: None,
            decided_after: None,
            finished: false,
            version,
            restamps: Vec::new(),
        };
        let deadline = Instant::now() + self.timeout;
        let mut plan = plan;
        loop {
            match &plan {
                Ok(p) => {
                    if let Err(e) = self.exchange(&mut trace, p, deadline, observer).await {
                        decide(
                            &mut trace,
                            Verdict::Failed(Failure::Network(e.to_string())),
                            None,
                        );
                    }
                }
                Err(e) => decide(
                    &mut trace,
                    Verdict::Failed(Failure::Invalid(e.clone())),
                    None,
                ),
            }
            match self.restamp(&mut trace, deadline) {
                Some(next) => plan = next,
                None => break,
            }
        }
        trace.finished = true;
        // Later writes of this process order after every version seen (a
        // value read, a tombstone, the newer version an OLDER reply keeps).
        if let Some(seen) = trace.replicas.iter().filter_map(|r| r.version).max()
            && let Err(e) = self.clock.observe(seen.timestamp)
        {
            tracing::debug!("a version seen was not adopted by the clock: {e}");
        }
        observer(&trace);
        trace
    }

    /// After a round of a put or delete that servers answered OLDER (they
    /// keep a newer version): moves this client's clock past the newest
    /// version they named, stamps the write again and returns the plan of
    /// the next round, to the same servers, with a fresh trace of them; the
    /// trace keeps what happened ([`Trace::restamps`]). `None` when the
    /// round was not superseded, after [`MAX_RESTAMPS`] rounds or the
    /// deadline (the write fails as superseded), or when that version is
    /// too far ahead of this clock to adopt (it fails: this clock is
    /// behind). So a write acknowledged after another one carries a higher
    /// version, whatever the clocks say (DECISIONS #77).
    fn restamp(&self, trace: &mut Trace, deadline: Instant) -> Option<Result<Plan, String>> {
        let Verdict::Failed(Failure::Superseded(newer)) = trace.verdict else {
            return None;
        };
        let from = trace.version?;
        if trace.restamps.len() >= MAX_RESTAMPS || Instant::now() >= deadline {
            return None;
        }
        let local = self.clock.now_ms();
        let ahead_ms = i64::try_from(crate::hlc::physical_ms(newer.timestamp))
            .unwrap_or(i64::MAX)
            .saturating_sub(i64::try_from(local).unwrap_or(i64::MAX));
        if let Err(e) = self.clock.observe(newer.timestamp) {
            let at = trace.decided_after;
            decide(
                trace,
                Verdict::Failed(Failure::ClockBehind {
                    newer,
                    behind_ms: e.remote_ms.saturating_sub(e.local_ms),
                    max_ms: e.max_drift_ms,
                }),
                at,
            );
            return None;
        }
        let to = self.clock.version();
        trace.restamps.push(Restamp {
            from,
            superseded_by: newer,
            ahead_ms,
            to,
        });
        trace.version = Some(to);
        trace.verdict = Verdict::Pending;
        trace.decided_after = None;
        trace.replicas = trace
            .replicas
            .iter()
            .filter(|r| r.hint_for.is_none())
            .map(|r| ReplicaTrace::new(r.server, r.addr, r.ring_index, r.node_number))
            .collect();
        let plan = match trace.kind {
            OpKind::Delete => Plan::delete(&trace.key, Some(to)),
            _ => Plan::put(
                &trace.key,
                trace.written.as_deref().unwrap_or_default(),
                Some(to),
                self.key.is_none(),
            ),
        };
        Some(self.sign(plan).map(Plan::restampable))
    }

    /// Read repair after a get: marks the servers that answered (in v2) an
    /// older version or "not found" and sends them the newest record in a
    /// background task, whose trace [`Client::finish_repairs`] returns.
    /// Servers that did not answer, or answered in v1, are left alone; so
    /// is every server when a value without a version (written through v1)
    /// conflicts with the newest record and the get did not decide for it.
    fn repair(&self, trace: &mut Trace) {
        let replies: Vec<Option<ReadReply>> = trace.replicas.iter().map(read_reply).collect();
        let Some(newest) = newest(&replies) else {
            return;
        };
        let version = newest.version();
        // A value written through v1 (no version) that differs from the
        // newest record cannot be ordered against it: unless the get
        // decided for the versioned record, repairing would overwrite what
        // may be a later v1 write acknowledged by a v1 quorum (#78).
        let unordered_v1 = replies.iter().flatten().any(|r| match (r, newest) {
            (ReadReply::V1Value(bytes), Newest::Value(value, _)) => *bytes != value,
            (ReadReply::V1Value(_), Newest::Deleted(_)) => true,
            _ => false,
        });
        let versioned_outcome = trace.version.is_some()
            && matches!(
                trace.verdict,
                Verdict::Reached | Verdict::Failed(Failure::NotFound)
            );
        if unordered_v1 && !versioned_outcome {
            return;
        }
        let v2 = |i: usize| {
            trace
                .replicas
                .get(i)
                .is_some_and(|r| r.dialect == Some(Dialect::V2))
        };
        let stale: Vec<usize> = replies
            .iter()
            .enumerate()
            .filter(|(i, r)| match (r, newest) {
                (Some(ReadReply::Value(..) | ReadReply::Deleted(_)), _) => {
                    r.and_then(|r| r.version()) != Some(version)
                }
                // A v2 server's value written through v1 (version zero)
                // that the get decided against.
                (Some(ReadReply::V1Value(_)), _) => v2(*i),
                (Some(ReadReply::Absent), Newest::Value(..)) => true,
                (Some(ReadReply::Absent), Newest::Deleted(_)) => true,
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
        let (kind, value) = match newest {
            Newest::Value(v, _) => (OpKind::Put, Some(v.to_vec())),
            Newest::Deleted(_) => (OpKind::Delete, None),
        };
        if stale.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut targets = Vec::new();
        for &i in &stale {
            if let Some(r) = trace.replicas.get_mut(i) {
                r.repair = Some(version);
                targets.push(ReplicaTrace::new(
                    r.server,
                    r.addr,
                    r.ring_index,
                    r.node_number,
                ));
            }
        }
        let client = self.clone();
        let key = trace.key.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        runtime.spawn(async move {
            let plan = client.sign(match &value {
                Some(v) => Plan::put(&key, v, Some(version), false),
                None => Plan::delete(&key, Some(version)),
            });
            let all = targets.len();
            let quorum = Quorum {
                n: all,
                w: all,
                r: all,
            };
            let trace = client
                .run(
                    kind,
                    &key,
                    value.clone(),
                    Some(version),
                    targets,
                    quorum,
                    plan,
                    &mut |_| {},
                )
                .await;
            let _ = tx.send(Some(trace));
        });
        self.track(rx);
    }

    /// Sends to every replica, then gathers replies into `trace`, re-sending
    /// to the silent ones as the retry policy says while undecided.
    async fn exchange(
        &self,
        trace: &mut Trace,
        plan: &Plan,
        deadline: Instant,
        observer: Observer<'_>,
    ) -> io::Result<()> {
        let socket = open_socket()?;
        // Opened when a server turns out to speak only v1 (see the module
        // documentation): its v1 exchange happens there.
        let mut fallback: Option<OpSocket> = None;
        let start = Instant::now();
        // Where each replica's requests go and its replies come from.
        let mut routes: Vec<SocketAddrV4> = trace
            .replicas
            .iter()
            .map(|r| self.routes.get(&r.server).copied().unwrap_or(r.addr))
            .collect();
        // HintMode::Count: HINTs sent during the operation.
        let mut hint_datagrams: Vec<Vec<u8>> = Vec::new();
        let mut lanes: Vec<Lane> = trace
            .replicas
            .iter()
            .map(|r| plan.lane(self.dialect(r.server)))
            .collect();
        for ((replica, to), lane) in trace.replicas.iter_mut().zip(&routes).zip(&lanes) {
            let Some(request) = plan.datagram(*lane) else {
                replica.reply = Some(Reply::V1Only);
                replica.dialect = Some(Dialect::V1);
                replica.latency = Some(start.elapsed());
                continue;
            };
            if let Err(e) = socket.send_to(request, to).await {
                replica.reply = Some(Reply::SendFailed(e.to_string()));
                replica.latency = Some(start.elapsed());
            }
        }
        observer(trace);
        evaluate(trace, start.elapsed(), plan.restamp);
        let mut resends = 0u32;
        let mut next_resend = self.retry.interval(1).map(|wait| start + wait);
        let mut buf = vec![0u8; 65536];
        let mut fallback_buf = Vec::new();
        loop {
            let all_answered = trace.replicas.iter().all(|r| r.reply.is_some());
            let decided = trace.verdict != Verdict::Pending;
            // A superseded round ends at once: the next one is what counts.
            let superseded = matches!(trace.verdict, Verdict::Failed(Failure::Superseded(_)));
            if all_answered || (decided && (!self.complete_traces || superseded)) {
                break;
            }
            // Wake at the deadline, or earlier for a resend while undecided.
            let wake = match next_resend {
                Some(at) if !decided && at < deadline => at,
                _ => deadline,
            };
            let received = match &fallback {
                None => tokio::time::timeout_at(wake, socket.recv_from(&mut buf))
                    .await
                    .map(|r| r.map(|(len, from)| (len, from, false))),
                Some(second) => {
                    if fallback_buf.is_empty() {
                        fallback_buf = vec![0u8; 65536];
                    }
                    tokio::time::timeout_at(wake, async {
                        tokio::select! {
                            r = socket.recv_from(&mut buf) => r.map(|(len, from)| (len, from, false)),
                            r = second.recv_from(&mut fallback_buf) => r.map(|(len, from)| (len, from, true)),
                        }
                    })
                    .await
                }
            };
            // A server keeps a newer version and the others are slow to
            // answer: stamp the write again now rather than wait for them.
            if received.is_err()
                && wake < deadline
                && plan.restamp
                && trace.verdict == Verdict::Pending
                && let Some(newer) = newest_older(trace)
            {
                decide(
                    trace,
                    Verdict::Failed(Failure::Superseded(newer)),
                    Some(start.elapsed()),
                );
                break;
            }
            let (len, from, on_fallback) = match received {
                Err(_) if wake < deadline => {
                    if resends == 0 && self.hints == HintMode::Count {
                        // Sloppy quorum: the silent home servers' writes go
                        // to the next servers of the ring now, and their
                        // acknowledgements count toward W.
                        self.hint_now(
                            trace,
                            &mut routes,
                            &mut lanes,
                            &mut hint_datagrams,
                            plan.id,
                            deadline,
                        );
                    }
                    resends += 1;
                    let silent = trace.replicas.iter().zip(&routes).zip(&lanes);
                    for ((_, to), lane) in silent.filter(|((r, _), _)| r.reply.is_none()) {
                        let (via, request) = match (lane, &fallback) {
                            (Lane::Fallback, Some(second)) => (second, plan.v1.as_deref()),
                            (Lane::Hint(k), _) => {
                                (&socket, hint_datagrams.get(*k).map(Vec::as_slice))
                            }
                            (lane, _) => (&socket, plan.datagram(*lane)),
                        };
                        let Some(request) = request else { continue };
                        // A failed resend changes nothing: the first
                        // send went out, and the deadline still rules.
                        if let Err(e) = via.send_to(request, to).await {
                            tracing::debug!(addr = %to, "resend failed: {e}");
                        }
                    }
                    // From the planned time, not from now, so a slow
                    // wake-up does not shift the rest of the schedule.
                    next_resend = self.retry.interval(resends + 1).map(|wait| wake + wait);
                    continue;
                }
                Err(_) => break,
                Ok(Ok(r)) => r,
                Ok(Err(e)) if is_transient(&e) => continue,
                Ok(Err(e)) => return Err(e),
            };
            let SocketAddr::V4(from) = from else { continue };
            let Some(i) = trace
                .replicas
                .iter()
                .zip(&routes)
                .position(|(r, to)| *to == from && r.reply.is_none())
            else {
                tracing::debug!(%from, "ignored a reply from an unexpected address or a duplicate");
                continue;
            };
            let datagram = if on_fallback {
                fallback_buf.get(..len).unwrap_or_default()
            } else {
                buf.get(..len).unwrap_or_default()
            };
            let (Some(replica), Some(lane)) = (trace.replicas.get_mut(i), lanes.get_mut(i)) else {
                continue;
            };
            if !on_fallback && !self.authentic(datagram, from) {
                continue;
            }
            let answer = match (*lane, on_fallback) {
                (Lane::V1, false) | (Lane::Fallback, true) => {
                    Some((v1_reply(trace.kind, datagram), Dialect::V1, None))
                }
                (Lane::V2 | Lane::Hint(_), false) if v2::dialect(datagram) == Dialect::V2 => {
                    match v2::decode(datagram) {
                        Ok(frame) if frame.id == plan.id => {
                            self.learn(replica.server, Dialect::V2);
                            let (reply, version) = v2_reply(&frame.message, plan.opcode, datagram);
                            Some((reply, Dialect::V2, version))
                        }
                        Ok(frame) => {
                            tracing::debug!(%from, id = frame.id, "ignored a v2 reply with another request id");
                            None
                        }
                        Err(e) => {
                            tracing::debug!(%from, "ignored a v2 datagram that does not decode: {e}");
                            None
                        }
                    }
                }
                (Lane::V2, false) => {
                    // Not a v2 datagram (a v1-only server's empty refusal):
                    // v1 from now on, and this operation again in v1.
                    self.learn(replica.server, Dialect::V1);
                    match &plan.v1 {
                        None => Some((Reply::V1Only, Dialect::V1, None)),
                        Some(request) => {
                            *lane = Lane::Fallback;
                            if fallback.is_none() {
                                fallback = Some(open_socket()?);
                            }
                            let sent = match &fallback {
                                Some(second) => {
                                    second
                                        .send_to(request, routes.get(i).unwrap_or(&from))
                                        .await
                                }
                                None => Ok(0),
                            };
                            match sent {
                                Ok(_) => None,
                                Err(e) => {
                                    Some((Reply::SendFailed(e.to_string()), Dialect::V1, None))
                                }
                            }
                        }
                    }
                }
                _ => {
                    tracing::debug!(%from, "ignored a stray reply to an earlier copy");
                    None
                }
            };
            let Some((reply, dialect, version)) = answer else {
                continue;
            };
            if let Some(version) = version
                && let Some(replica) = trace.replicas.get_mut(i)
            {
                replica.version = Some(version);
            }
            if let Some(replica) = trace.replicas.get_mut(i) {
                replica.reply = Some(reply);
                replica.dialect = Some(dialect);
                replica.latency = Some(start.elapsed());
            }
            evaluate(trace, start.elapsed(), plan.restamp);
            observer(trace);
        }
        // Also after a write that timed out: its silent home servers get
        // hints (the deadline has passed, so nothing more is awaited). Not
        // after a superseded round: its version is not the one to keep.
        let superseded = matches!(trace.verdict, Verdict::Failed(Failure::Superseded(_)));
        if (trace.verdict != Verdict::Pending || trace.kind.is_write()) && !superseded {
            self.linger(socket, trace, &routes, &lanes, plan, deadline);
        }
        for replica in &mut trace.replicas {
            if replica.reply.is_none() && Instant::now() >= deadline {
                replica.reply = Some(Reply::Timeout);
            }
        }
        if trace.verdict == Verdict::Pending {
            if trace.kind == OpKind::Get {
                evaluate(trace, start.elapsed(), false);
            }
            if matches!(
                trace.verdict,
                Verdict::Pending | Verdict::Failed(Failure::NotEnough)
            ) {
                decide(
                    trace,
                    Verdict::Failed(Failure::Timeout),
                    Some(start.elapsed()),
                );
            }
        }
        Ok(())
    }

    /// Asks one server for its contents (SPEC §4 dump). Waits up to the
    /// deadline for the first datagram, then until every announced pair has
    /// arrived or no datagram came for `idle`.
    /// An index outside the configuration is an `InvalidInput` error.
    pub async fn dump(&self, server: usize, idle: Duration) -> io::Result<DumpReply> {
        let Some(spec) = self.config.servers.get(server) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no server number {server} in the configuration"),
            ));
        };
        dump_server(spec.addr(), self.timeout, idle).await
    }
}

/// Everything a server sent back to a dump request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpReply {
    /// Every datagram received, in arrival order: `None` when it came from
    /// the server asked, else the other address it came from.
    pub received: Vec<(Option<SocketAddr>, Vec<u8>)>,
    /// The server's datagrams parsed into pairs.
    pub parsed: Dump,
    /// Why the server refused the dump, when it did (a paged dump's first
    /// page refused, e.g. unsigned pages to a keyed server): its contents
    /// are then unknown, not empty.
    pub refused: Option<crate::protocol_v2::Reason>,
}

impl DumpReply {
    /// True when the server answered at all.
    pub fn answered(&self) -> bool {
        self.received.iter().any(|(from, _)| from.is_none())
    }
}

/// Sends a dump request to `addr` and gathers its reply (see [`Client::dump`]).
pub async fn dump_server(
    addr: SocketAddrV4,
    first: Duration,
    idle: Duration,
) -> io::Result<DumpReply> {
    let socket = open_socket()?;
    socket.send_to(&[], addr).await?;
    let mut reply = DumpReply::default();
    let mut buf = vec![0u8; 65536];
    let started = Instant::now();
    let hard_stop = started + first + DUMP_MAX_TIME;
    let mut foreign = 0usize;
    let mut deadline = started + first;
    loop {
        let (len, from) = match tokio::time::timeout_at(
            deadline.min(hard_stop),
            socket.recv_from(&mut buf),
        )
        .await
        {
            Err(_) => break,
            Ok(Ok(r)) => r,
            Ok(Err(e)) if is_transient(&e) => continue,
            Ok(Err(e)) => return Err(e),
        };
        let datagram = buf.get(..len).unwrap_or_default().to_vec();
        if from == SocketAddr::V4(addr) {
            reply.parsed.add_datagram(&datagram);
            reply.received.push((None, datagram));
            if let Some(count) = reply.parsed.announced
                && reply.parsed.pairs.len() >= count
            {
                break;
            }
        } else {
            // Anyone can send to our port: keep a few such datagrams to show,
            // and never let them keep the dump reading.
            foreign += 1;
            if foreign <= DUMP_MAX_FOREIGN {
                reply.received.push((Some(from), datagram));
            }
            continue;
        }
        deadline = Instant::now() + idle;
    }
    Ok(reply)
}

/// A dump stops reading this long after its first wait, whatever arrives.
pub const DUMP_MAX_TIME: Duration = Duration::from_secs(60);
/// Datagrams from other addresses kept (and shown) by one dump; more are
/// dropped, and none of them extends the wait for the server.
pub const DUMP_MAX_FOREIGN: usize = 64;

/// How long the port of a closed operation socket is not used again by
/// this process (see `OpSocket`).
pub const PORT_QUARANTINE: Duration = Duration::from_secs(10);
/// At most this many ports are kept in quarantine (the oldest leave first),
/// under the kernel's ephemeral range (~28,000 ports by default): at
/// ~8,000 operations/s that still covers a 2 s window.
const PORT_QUARANTINE_MAX: usize = 16384;

/// Ports of operation sockets closed recently by this process.
#[derive(Default)]
struct RecentPorts {
    closed: HashMap<u16, std::time::Instant>,
    order: std::collections::VecDeque<(u16, std::time::Instant)>,
}

impl RecentPorts {
    fn prune(&mut self, now: std::time::Instant) {
        while let Some(&(port, at)) = self.order.front() {
            if now.duration_since(at) < PORT_QUARANTINE && self.order.len() <= PORT_QUARANTINE_MAX {
                break;
            }
            self.order.pop_front();
            if self.closed.get(&port) == Some(&at) {
                self.closed.remove(&port);
            }
        }
    }
}

static RECENT_PORTS: std::sync::LazyLock<std::sync::Mutex<RecentPorts>> =
    std::sync::LazyLock::new(Default::default);

/// The socket of one operation.
///
/// v1 replies carry no request id: a late reply (from a paused server, or
/// one that answered after the verdict) is addressed to the port of the
/// operation that asked. If the kernel handed that port to a *later*
/// operation of this process talking to the same server, the late reply
/// would count there. So when an operation socket closes its port is
/// quarantined for [`PORT_QUARANTINE`], and a new socket that gets a
/// quarantined port is replaced by another. Other processes (one
/// `dkvs-client` per command) are not covered: see `docs/RELIABILITY.md`.
struct OpSocket(UdpSocket);

impl std::ops::Deref for OpSocket {
    type Target = UdpSocket;
    fn deref(&self) -> &UdpSocket {
        &self.0
    }
}

impl Drop for OpSocket {
    fn drop(&mut self) {
        let Ok(addr) = self.0.local_addr() else {
            return;
        };
        let now = std::time::Instant::now();
        if let Ok(mut recent) = RECENT_PORTS.lock() {
            recent.closed.insert(addr.port(), now);
            recent.order.push_back((addr.port(), now));
            recent.prune(now);
        }
    }
}

fn open_socket() -> io::Result<OpSocket> {
    let bind =
        || crate::server::bind_udp(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
    // Rejected sockets stay open until the end, so the kernel cannot hand
    // the same port back at the next attempt.
    let mut rejected = Vec::new();
    let mut socket = bind()?;
    for _ in 0..32 {
        let port = socket.local_addr()?.port();
        let quarantined = RECENT_PORTS.lock().is_ok_and(|mut recent| {
            recent.prune(std::time::Instant::now());
            recent.closed.contains_key(&port)
        });
        if !quarantined {
            break;
        }
        rejected.push(std::mem::replace(&mut socket, bind()?));
    }
    drop(rejected);
    Ok(OpSocket(UdpSocket::from_std(socket)?))
}

/// ICMP "port unreachable" surfaces as a receive error on some systems; it
/// cannot be attributed to one server, so it is not a reason to stop.
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// How one server is spoken to in one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// v1 on the operation's socket (a known v1-only server, v1 mode, or a
    /// pair too large for a v2 datagram).
    V1,
    /// v2 on the operation's socket (a v2 server, or one not known yet).
    V2,
    /// v1 on the second socket, after this server refused v2.
    Fallback,
    /// Nothing can be sent: a delete to a v1-only server.
    None,
    /// A HINT for a silent home server, to a server after the home servers
    /// ([`HintMode::Count`]): this datagram of the operation's hints.
    Hint(usize),
}

/// The datagrams of one operation.
struct Plan {
    /// The v2 request id (one per operation: the source address tells the
    /// servers apart).
    id: u64,
    /// The v2 opcode, for [`Message::answers`].
    opcode: u8,
    /// The v1 request, `None` when v1 cannot express it (a delete, a repair).
    v1: Option<Vec<u8>>,
    /// The v2 request, `None` in v1 mode or when it does not fit.
    v2: Option<Vec<u8>>,
    /// A put or delete of this client's own (not a read repair): an OLDER
    /// reply does not count toward W, and the write is stamped again
    /// ([`Client::restamp`]).
    restamp: bool,
}

impl Plan {
    /// This plan, as a write of the client's own ([`Plan::restamp`]).
    fn restampable(mut self) -> Plan {
        self.restamp = true;
        self
    }

    fn new_id() -> u64 {
        use rand::RngExt;
        rand::rng().random()
    }

    /// A get: the v1 rules decide what can be asked (so every server can
    /// be asked the same thing), v2 when `v2` is allowed.
    fn get(key: &[u8], v2: bool) -> Result<Plan, String> {
        let id = Plan::new_id();
        let v1 = protocol::encode_get(key).map_err(|e| e.to_string())?;
        Ok(Plan {
            id,
            opcode: v2::opcode::GET,
            v1: Some(v1),
            v2: v2
                .then(|| v2::encode(id, &Message::Get { key }, None).ok())
                .flatten(),
            restamp: false,
        })
    }

    /// A put: in v2 with `version` (none in v1 mode); in v1 too when
    /// `v1` (a read repair is v2 only: its value may not be v1-safe).
    fn put(key: &[u8], value: &[u8], version: Option<Version>, v1: bool) -> Result<Plan, String> {
        let id = Plan::new_id();
        let v1 = if v1 {
            Some(protocol::encode_put(key, value).map_err(|e| e.to_string())?)
        } else {
            None
        };
        let v2 = version.and_then(|version| {
            let put = Message::Put {
                key,
                value,
                version,
            };
            // A pair too large for v2 (PROTOCOL.md, size limits) goes in v1.
            v2::encode(id, &put, None).ok()
        });
        if v1.is_none() && v2.is_none() {
            return Err("the key and value do not fit one protocol v2 datagram".into());
        }
        Ok(Plan {
            id,
            opcode: v2::opcode::PUT,
            v1,
            v2,
            restamp: false,
        })
    }

    /// A delete: v2 only (`version` is `None` in v1 mode, so nothing is
    /// sent anywhere). The key follows the same rules as a get's.
    fn delete(key: &[u8], version: Option<Version>) -> Result<Plan, String> {
        let id = Plan::new_id();
        protocol::check_key(key).map_err(|e| e.to_string())?;
        let v2 = match version {
            Some(version) => Some(
                v2::encode(id, &Message::Delete { key, version }, None)
                    .map_err(|e| e.to_string())?,
            ),
            None => None,
        };
        Ok(Plan {
            id,
            opcode: v2::opcode::DELETE,
            v1: None,
            v2,
            restamp: false,
        })
    }

    /// The lane for a server whose protocol is `known`.
    fn lane(&self, known: Option<Dialect>) -> Lane {
        match (known, &self.v2, &self.v1) {
            (Some(Dialect::V1), _, Some(_)) | (_, None, Some(_)) => Lane::V1,
            (Some(Dialect::V1), _, None) | (_, None, None) => Lane::None,
            (_, Some(_), _) => Lane::V2,
        }
    }

    /// The datagram a lane sends.
    fn datagram(&self, lane: Lane) -> Option<&[u8]> {
        match lane {
            Lane::V1 | Lane::Fallback => self.v1.as_deref(),
            Lane::V2 => self.v2.as_deref(),
            Lane::None | Lane::Hint(_) => None,
        }
    }
}

/// A v1 reply to a request of `kind`.
fn v1_reply(kind: OpKind, datagram: &[u8]) -> Reply {
    match kind {
        OpKind::Get => match protocol::decode_get_reply(datagram) {
            GetReply::Value(v) => Reply::Value(v.to_vec()),
            GetReply::NotFound => Reply::NotFound,
            GetReply::Invalid => Reply::Invalid(datagram.to_vec()),
        },
        OpKind::Put | OpKind::Delete => match protocol::decode_put_reply(datagram) {
            PutReply::Stored => Reply::Stored,
            PutReply::Refused => Reply::Refused(None),
            PutReply::Invalid => Reply::Invalid(datagram.to_vec()),
        },
    }
}

/// A v2 reply (with the request's id) to a request with `opcode`, and the
/// version it reports. A reply the request cannot get is invalid.
fn v2_reply(message: &Message, opcode: u8, datagram: &[u8]) -> (Reply, Option<Version>) {
    if !message.answers(opcode) {
        return (Reply::Invalid(datagram.to_vec()), None);
    }
    match message {
        Message::Value { value, version } => (Reply::Value(value.to_vec()), Some(*version)),
        Message::NotFound { tombstone } => (Reply::NotFound, *tombstone),
        Message::Stored => (Reply::Stored, None),
        Message::Older { current } => (Reply::Older, Some(*current)),
        Message::Refused { reason } => {
            tracing::debug!(?reason, "request refused");
            (Reply::Refused(Some(*reason)), None)
        }
        _ => (Reply::Invalid(datagram.to_vec()), None),
    }
}

/// A server's answer to a get as the read rule sees it (`None`: nothing
/// usable yet).
fn read_reply(r: &ReplicaTrace) -> Option<ReadReply<'_>> {
    let v2 = r.dialect == Some(Dialect::V2);
    match r.reply.as_ref()? {
        // A v2 value at version zero was written through v1: it carries no
        // order, so it is compared byte for byte as v1 values are (SPEC §6).
        Reply::Value(v) => match r.version.filter(|_| v2) {
            Some(version) if version != Version::ZERO => Some(ReadReply::Value(v, version)),
            _ => Some(ReadReply::V1Value(v)),
        },
        Reply::NotFound if v2 => Some(match r.version {
            Some(t) => ReadReply::Deleted(t),
            None => ReadReply::Absent,
        }),
        Reply::NotFound => Some(ReadReply::V1NotFound),
        _ => None,
    }
}

fn mark_counted(trace: &mut Trace, counts: impl Fn(&Reply) -> bool) {
    for r in &mut trace.replicas {
        r.counted = r.reply.as_ref().is_some_and(&counts);
    }
}

fn decide(trace: &mut Trace, verdict: Verdict, at: Option<Duration>) {
    trace.verdict = verdict;
    trace.decided_after = at;
}

/// The newest version servers answered OLDER with (they keep it).
fn newest_older(trace: &Trace) -> Option<Version> {
    trace
        .replicas
        .iter()
        .filter(|r| r.reply == Some(Reply::Older))
        .filter_map(|r| r.version)
        .max()
}

/// Decides the verdict, once, as soon as the replies so far allow it. A
/// write of the client's own (`restamp`) counts STORED only: when W can no
/// longer be reached and a server keeps a newer version, the round is
/// [`Failure::Superseded`] (and stamped again). A read repair also counts
/// OLDER: that server already holds something at least as new.
fn evaluate(trace: &mut Trace, now: Duration, restamp: bool) {
    if trace.verdict != Verdict::Pending {
        return;
    }
    let outstanding = trace.replicas.iter().filter(|r| r.reply.is_none()).count();
    match trace.kind {
        OpKind::Put | OpKind::Delete => {
            let counts = if restamp { Reply::is_ack } else { Reply::holds };
            let acks = trace
                .replicas
                .iter()
                .filter(|r| r.reply.as_ref().is_some_and(counts))
                .count();
            if acks >= trace.quorum.w {
                mark_counted(trace, counts);
                decide(trace, Verdict::Reached, Some(now));
            } else if acks + outstanding < trace.quorum.w {
                mark_counted(trace, counts);
                let failure = match newest_older(trace).filter(|_| restamp) {
                    Some(newer) => Failure::Superseded(newer),
                    None => Failure::NotEnough,
                };
                decide(trace, Verdict::Failed(failure), Some(now));
            }
        }
        OpKind::Get => {
            let (verdict, value, version, counted) = {
                let replies: Vec<Option<ReadReply>> =
                    trace.replicas.iter().map(read_reply).collect();
                let decision = read_rule(&replies, outstanding, trace.quorum.r);
                let newest_version = newest(&replies).map(|n| n.version());
                let (verdict, value, version) = match decision.verdict {
                    ReadVerdict::Pending => return,
                    ReadVerdict::Value(v, version) => (Verdict::Reached, Some(v.to_vec()), version),
                    ReadVerdict::NotFound(version) => {
                        (Verdict::Failed(Failure::NotFound), None, version)
                    }
                    ReadVerdict::NotEnough => {
                        (Verdict::Failed(Failure::NotEnough), None, newest_version)
                    }
                };
                (verdict, value, version, decision.counted)
            };
            for (r, counted) in trace.replicas.iter_mut().zip(counted) {
                r.counted = counted;
            }
            trace.value = value;
            trace.version = version;
            decide(trace, verdict, Some(now));
        }
    }
}

/// Turns a finished trace into the simple API's result.
pub fn into_result(trace: Trace) -> Result<Option<Vec<u8>>, OpError> {
    match &trace.verdict {
        Verdict::Reached => Ok(trace.value),
        Verdict::Failed(Failure::NotFound) => Err(OpError::NotFound),
        _ => Err(OpError::Failed(
            trace
                .failure_reason()
                .unwrap_or_else(|| "no verdict".into()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_servers_txt;
    use crate::server::Server;

    async fn cluster(count: usize) -> (ClusterConfig, Vec<tokio::sync::oneshot::Sender<()>>) {
        let mut lines = String::new();
        let mut stops = Vec::new();
        for _ in 0..count {
            let server = Server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let port = server.local_addr().unwrap().port();
            lines.push_str(&format!("127.0.0.1 {port} 2\n"));
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(server.run(async move {
                let _ = rx.await;
            }));
            stops.push(tx);
        }
        (parse_servers_txt(&lines, "t").unwrap(), stops)
    }

    /// A client with a key signs the v2 request (a valid trailer, same id
    /// and message) and plans no v1 request; in v1 mode it cannot ask.
    #[test]
    fn a_client_with_a_key_signs_and_never_plans_v1() {
        let key = v2::AuthKey::new(4, &[7u8; 32]).unwrap();
        let config = parse_servers_txt("127.0.0.1 1234 1\n", "t").unwrap();
        let client = Client::new(config).with_key(Some(key.clone()));
        assert_eq!(client.key().map(AuthKey::id), Some(4));
        let v = Version {
            timestamp: 5,
            writer: 1,
        };
        let plan = client
            .sign(Plan::put(b"k", b"a\0b", Some(v), false))
            .unwrap();
        assert_eq!(plan.v1, None);
        let signed = plan.v2.unwrap();
        let now = crate::hlc::Clock::now_ms(&crate::hlc::SystemClock);
        let trailer = v2::verify(&signed, &[key], now, 60_000).unwrap();
        assert_eq!(trailer.key_id, 4);
        let frame = v2::decode(&signed).unwrap();
        assert_eq!(frame.id, plan.id);
        assert!(matches!(frame.message, Message::Put { value: b"a\0b", .. }));
        let v1 = client.clone().with_protocol(ProtocolMode::V1);
        assert!(v1.sign(Plan::get(b"k", false)).is_err());
        // Without a key, plans are unchanged.
        let plain = Client::new(parse_servers_txt("127.0.0.1 1234 1\n", "t").unwrap());
        assert!(plain.sign(Plan::get(b"k", true)).unwrap().v1.is_some());
    }

    /// Which protocol each server is spoken to in, and what each plan
    /// carries.
    #[test]
    fn plans_and_lanes() {
        let v = Version {
            timestamp: 5,
            writer: 1,
        };
        let get = Plan::get(b"k", true).unwrap();
        assert_eq!(get.v1.as_deref(), Some(&b"k"[..]));
        let frame = v2::decode(get.v2.as_deref().unwrap()).unwrap();
        assert_eq!(
            (frame.id, frame.message),
            (get.id, Message::Get { key: b"k" })
        );
        assert_eq!(get.lane(None), Lane::V2);
        assert_eq!(get.lane(Some(Dialect::V2)), Lane::V2);
        assert_eq!(get.lane(Some(Dialect::V1)), Lane::V1);
        // v1 mode, or every server known v1: nothing in v2.
        let get = Plan::get(b"k", false).unwrap();
        assert_eq!((get.v2.is_none(), get.lane(None)), (true, Lane::V1));
        // The v1 rules decide what a get or put may carry.
        assert_eq!(
            Plan::get(b"", true).err().unwrap(),
            "the key must not be empty"
        );
        assert!(Plan::get(b"a\0b", true).is_err());
        assert!(Plan::put(b"k", b"a\0b", Some(v), true).is_err());
        // A delete has no v1 form: a v1-only server gets nothing.
        let del = Plan::delete(b"k", Some(v)).unwrap();
        assert_eq!(del.v1, None);
        assert_eq!(del.lane(None), Lane::V2);
        assert_eq!(del.lane(Some(Dialect::V1)), Lane::None);
        assert_eq!(Plan::delete(b"k", None).unwrap().lane(None), Lane::None);
        assert!(Plan::delete(b"", Some(v)).is_err());
        // A pair too large for v2 goes in v1 to every server.
        let big = vec![b'v'; protocol::MAX_VALUE_LEN];
        let key = vec![b'k'; protocol::MAX_KEY_LEN];
        let put = Plan::put(&key, &big, Some(v), true).unwrap();
        assert_eq!(
            (put.v2.is_none(), put.lane(Some(Dialect::V2))),
            (true, Lane::V1)
        );
        // A repair is v2 only.
        assert!(Plan::put(&key, &big, Some(v), false).is_err());
        assert_eq!(Plan::put(b"k", b"v", Some(v), false).unwrap().v1, None);
    }

    /// v2 replies become trace replies; a reply the request cannot get is
    /// invalid.
    #[test]
    fn v2_replies_map_to_trace_replies() {
        let v = Version {
            timestamp: 5,
            writer: 1,
        };
        let get = v2::opcode::GET;
        let put = v2::opcode::PUT;
        let value = Message::Value {
            value: b"x",
            version: v,
        };
        assert_eq!(
            v2_reply(&value, get, b""),
            (Reply::Value(b"x".to_vec()), Some(v))
        );
        assert_eq!(
            v2_reply(&value, put, b"d"),
            (Reply::Invalid(b"d".to_vec()), None)
        );
        let tomb = Message::NotFound { tombstone: Some(v) };
        assert_eq!(v2_reply(&tomb, get, b""), (Reply::NotFound, Some(v)));
        assert_eq!(v2_reply(&Message::Stored, put, b""), (Reply::Stored, None));
        let older = Message::Older { current: v };
        assert_eq!(
            v2_reply(&older, v2::opcode::DELETE, b""),
            (Reply::Older, Some(v))
        );
        let refused = Message::Refused {
            reason: v2::Reason::OutOfMemory,
        };
        assert_eq!(
            v2_reply(&refused, put, b""),
            (Reply::Refused(Some(v2::Reason::OutOfMemory)), None)
        );
        // OLDER does not count toward W (the write is stamped again); a
        // read repair or a hint is satisfied by it.
        assert!(!Reply::Older.is_ack() && Reply::Stored.is_ack() && !Reply::Refused(None).is_ack());
        assert!(Reply::Older.holds() && Reply::Stored.holds() && !Reply::Timeout.holds());
    }

    #[test]
    fn retry_schedule_doubles_then_caps() {
        let p = RetryPolicy::DEFAULT;
        let ms = |v: &[u64]| {
            v.iter()
                .map(|&m| Duration::from_millis(m))
                .collect::<Vec<_>>()
        };
        assert_eq!(p.interval(0), None);
        assert_eq!(p.interval(1), Some(Duration::from_millis(50)));
        assert_eq!(p.interval(4), Some(Duration::from_millis(400)));
        assert_eq!(p.interval(9), Some(Duration::from_millis(400)));
        assert_eq!(p.interval(17), None);
        assert_eq!(
            p.schedule(Duration::from_millis(1000)),
            ms(&[50, 150, 350, 750])
        );
        assert!(
            RetryPolicy::DISABLED
                .schedule(Duration::from_secs(60))
                .is_empty()
        );
        let huge = RetryPolicy {
            first: Duration::from_secs(1),
            factor: u32::MAX,
            max_interval: Duration::MAX,
            max_resends: u32::MAX,
        };
        assert_eq!(huge.interval(1000), Some(Duration::MAX));
        assert_eq!(huge.schedule(Duration::from_secs(2)), ms(&[1000]));
    }

    /// A server that drops the first copy of every request is answered by a
    /// resend; with retransmission disabled the same operation times out.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resend_recovers_a_lost_request() {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = socket.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        let fake = tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let mut first: std::collections::HashSet<SocketAddr> = Default::default();
            while let Ok((_, from)) = socket.recv_from(&mut buf).await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if first.insert(from) {
                    continue; // lose the first copy
                }
                let _ = socket.send_to(b"\0", from).await;
            }
        });
        let config = parse_servers_txt(&format!("127.0.0.1 {port} 1\n"), "t").unwrap();
        // v1 only: this fake answers NUL to anything, v2 included, and the
        // test counts copies of one request.
        let client = Client::new(config)
            .with_timeout(Duration::from_millis(400))
            .with_protocol(ProtocolMode::V1);
        assert_eq!(client.retry(), RetryPolicy::DEFAULT);
        client
            .put(b"k", b"v", QuorumOptions::default())
            .await
            .unwrap();
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2);
        let once = client.with_retry(RetryPolicy::DISABLED);
        assert!(
            once.put(b"k", b"v", QuorumOptions::default())
                .await
                .is_err()
        );
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
        fake.abort();
    }

    #[tokio::test]
    async fn closed_operation_ports_are_quarantined() {
        let socket = open_socket().unwrap();
        let port = socket.local_addr().unwrap().port();
        let quarantined = || RECENT_PORTS.lock().unwrap().closed.contains_key(&port);
        assert!(!quarantined());
        drop(socket);
        assert!(quarantined());
        // Never handed out again while quarantined.
        let many: Vec<OpSocket> = (0..64).map(|_| open_socket().unwrap()).collect();
        assert!(many.iter().all(|s| s.local_addr().unwrap().port() != port));
    }

    #[test]
    fn quarantine_forgets_old_and_excess_ports() {
        let start = std::time::Instant::now();
        let mut recent = RecentPorts::default();
        for port in 0..(PORT_QUARANTINE_MAX as u16 + 10) {
            recent.closed.insert(port, start);
            recent.order.push_back((port, start));
        }
        recent.prune(start);
        assert_eq!(recent.order.len(), PORT_QUARANTINE_MAX);
        assert!(!recent.closed.contains_key(&9) && recent.closed.contains_key(&10));
        recent.prune(start + PORT_QUARANTINE);
        assert!(recent.order.is_empty() && recent.closed.is_empty());
    }

    /// Requests of a routed server go through a proxy; the trace keeps the
    /// server's own address; unrouting goes back to it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn routes_a_server_through_a_proxy() {
        use crate::fault_proxy::FaultProxy;
        let (config, _stops) = cluster(1).await;
        let server = config.servers[0].addr();
        let proxy = FaultProxy::builder("127.0.0.1:0".parse().unwrap(), server)
            .black_hole(true)
            .start()
            .await
            .unwrap();
        let mut client = Client::new(config).with_timeout(Duration::from_millis(300));
        assert_eq!(client.destination(0), Some(server));
        client.set_route(0, Some(proxy.local_addr()));
        assert_eq!(client.destination(0), Some(proxy.local_addr()));
        let q = client.quorum(QuorumOptions::default()).unwrap();
        let trace = client.put_traced(b"k", b"v", q, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Failed(Failure::Timeout));
        assert_eq!(trace.replicas[0].addr, server);
        assert!(
            proxy.stats().black_holed >= 2,
            "sent and resent to the proxy"
        );
        proxy.heal();
        let trace = client.put_traced(b"k", b"v", q, &mut |_| {}).await;
        assert_eq!(trace.verdict, Verdict::Reached);
        assert_eq!(trace.replicas[0].addr, server);
        client.set_route(0, None);
        assert_eq!(client.destination(0), Some(server));
        assert_eq!(
            client.get(b"k", QuorumOptions::default()).await.unwrap(),
            b"v"
        );
        assert_eq!(client.destination(7), None);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn put_then_get_in_process() {
        let (config, _stops) = cluster(3).await;
        let client = Client::new(config).with_timeout(Duration::from_millis(500));
        assert_eq!(
            client.get(b"k", QuorumOptions::default()).await,
            Err(OpError::NotFound)
        );
        client
            .put(b"k", b"v", QuorumOptions::default().w(3))
            .await
            .unwrap();
        assert_eq!(
            client
                .get(b"k", QuorumOptions::default().r(3))
                .await
                .unwrap(),
            b"v"
        );
        assert!(matches!(
            client.get(b"", QuorumOptions::default()).await,
            Err(OpError::Failed(_))
        ));
        assert!(matches!(
            client.get(b"k", QuorumOptions::default().n(9)).await,
            Err(OpError::Quorum(_))
        ));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn trace_records_every_server_and_observer_sees_changes() {
        let (config, _stops) = cluster(3).await;
        let client = Client::new(config).with_complete_traces(true);
        let q = client.quorum(QuorumOptions::default()).unwrap();
        let mut snapshots = 0;
        let trace = client
            .put_traced(b"key", b"value", q, &mut |_| snapshots += 1)
            .await;
        assert_eq!(trace.verdict, Verdict::Reached);
        assert!(
            trace
                .replicas
                .iter()
                .all(|r| r.reply == Some(Reply::Stored))
        );
        assert_eq!(trace.counted(), 2);
        assert!(snapshots >= 4, "sent + 3 replies + finish, got {snapshots}");
    }
}
