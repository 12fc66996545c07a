//! The quorum client (docs/ARCHITECTURE.md, "The path of a put").
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
//! answered yet ([`RetryPolicy`], timed by `dkvs_net::retry`'s `Resends`
//! like every dkvs request loop; schedule in `docs/RELIABILITY.md`). A
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
//! use dkvs_client::Client;
//! use dkvs_cluster::quorum::QuorumOptions;
//!
//! let client = Client::open("cluster.toml")?;
//! client.put(b"colour", b"blue", QuorumOptions::default().w(3)).await?;
//! let value = client.get(b"colour", QuorumOptions::default()).await?;
//! assert_eq!(value, b"blue");
//! # Ok(()) }
//! ```
//!
//! [`Message::answers`]: crate::protocol_v2::Message::answers

mod auth;
mod dump;
mod exchange;
mod hints;
mod plan;
mod repair;
mod socket;
mod verdict;

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{ClusterConfig, ConfigError};
use crate::hlc::{Hlc, SkewedClock};
use crate::protocol_v2::{AuthKey, Dialect};
use crate::quorum::{Quorum, QuorumError, QuorumOptions};
use crate::ring::Ring;
use crate::trace::{Failure, OpKind, ReplicaTrace, Trace, Verdict};
use crate::version::Version;

use auth::ReplyAuth;
pub use dump::{DUMP_MAX_FOREIGN, DUMP_MAX_TIME, DumpReply, dump_server};
use plan::Plan;
pub use socket::PORT_QUARANTINE;
use verdict::decide;
pub use verdict::into_result;

/// The resend schedule, shared with the dump, STATS and the servers' peer
/// requests (it lives in the net crate, with the timer that follows it).
pub use dkvs_net::retry::RetryPolicy;

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

/// Which protocol a [`Client`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProtocolMode {
    /// v2 first; a server that answers v2 with a non-v2 datagram is
    /// remembered as v1-only and spoken to in v1 (the default).
    #[default]
    Auto,
    /// Protocol v1 only, exactly as before v2: no versions, no delete.
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
    /// never count toward W (strict quorum: the quorum rules count the N home
    /// servers only). The default.
    #[default]
    Store,
    /// Sloppy quorum (Dynamo's): at the operation's first resend, while W
    /// is not reached, each silent home server's write goes to the next
    /// server of the ring as a HINT, and that server's acknowledgement
    /// counts toward W (it then appears in the operation's trace).
    Count,
}

/// A hint mode that is not `off`, `store` or `count`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("hints must be off, store or count, not {0:?}")]
pub struct BadHintMode(pub String);

impl std::str::FromStr for HintMode {
    type Err = BadHintMode;

    fn from_str(s: &str) -> Result<HintMode, BadHintMode> {
        match s {
            "off" => Ok(HintMode::Off),
            "store" => Ok(HintMode::Store),
            "count" => Ok(HintMode::Count),
            other => Err(BadHintMode(other.to_string())),
        }
    }
}

/// `--protocol v1` with a key: v1 requests cannot be signed, and a keyed
/// server drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "--protocol v1 cannot be used with a key (--key-file, {} or key_file): v1 requests cannot be signed; drop --protocol v1, or the key for an unkeyed cluster",
    crate::limits::KEY_FILE_ENV
)]
pub struct UnsignableV1;

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
    ///
    /// [`Reply::V1Only`]: crate::trace::Reply::V1Only
    pub fn with_key(mut self, key: Option<AuthKey>) -> Client {
        self.replies = ReplyAuth::new(key.as_ref(), self.config.defaults.keys.as_ref());
        self.key = key;
        self
    }

    /// `Err` with the reason when no request of this client can be sent:
    /// [`ProtocolMode::V1`] with a key, since v1 requests cannot be signed
    /// (and a keyed server drops them). The command-line tools turn it
    /// into a usage error before sending anything.
    pub fn check_protocol(&self) -> Result<(), UnsignableV1> {
        if self.mode == ProtocolMode::V1 && self.key.is_some() {
            return Err(UnsignableV1);
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

    /// The hint mode of its writes.
    pub fn hints(&self) -> HintMode {
        self.hints
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

    /// Resolves options against the ring (the quorum rules).
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
    ///
    /// [`Reply::V1Only`]: crate::trace::Reply::V1Only
    ///
    /// [`Reply::V1Only`]: crate::trace::Reply::V1Only
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
}
