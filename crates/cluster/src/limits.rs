//! Abuse limits of a server: who may use it, who may dump it, how many reply
//! bytes one source may receive, how much memory the store may hold, and the
//! counters that show each limit at work.
//!
//! Protocol v1 runs over UDP with no authentication, so the source address of
//! a request can be forged. A server that answers a small forged request with
//! a large reply becomes a reflector that floods the forged "source" (the
//! 2018 memcached attacks reached 1.7 Tbit/s that way, with `stats` replies
//! ~50,000 times the request). The defences live here, apart from the socket
//! loop, so each is a small pure piece with its own unit tests; the threat
//! model and the defaults are explained in `docs/SECURITY.md`.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::protocol_v2::AuthKey;

/// Socket receive buffer asked for, so bursts of requests are not dropped.
pub const RECV_BUFFER_BYTES: usize = 4 << 20;

/// An IPv4 network in CIDR notation (`10.0.0.0/8`; a bare address is `/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: u32,
    mask: u32,
    prefix: u8,
}

impl Cidr {
    /// The network `addr/prefix`; host bits of `addr` are ignored. `None`
    /// when `prefix` exceeds 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Cidr> {
        let mask = match prefix {
            0 => 0,
            1..=32 => u32::MAX << (32 - u32::from(prefix)),
            _ => return None,
        };
        Some(Cidr {
            network: u32::from(addr) & mask,
            mask,
            prefix,
        })
    }

    /// `127.0.0.0/8`, the loopback network.
    pub const LOOPBACK: Cidr = Cidr {
        network: 0x7f00_0000,
        mask: 0xff00_0000,
        prefix: 8,
    };

    /// Whether `ip` belongs to this network.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.network), self.prefix)
    }
}

/// Why text is not a [`Cidr`] (its [`FromStr`]); the message quotes the
/// text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The prefix length is not a number from 0 to 32.
    #[error("{input:?}: the prefix length must be 0..32")]
    Prefix {
        /// The text parsed.
        input: String,
        /// Why the prefix is not a number (`None`: a number above 32).
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    /// The address is not an IPv4 address.
    #[error("{input:?}: not an IPv4 address or CIDR (like 10.0.0.0/8)")]
    Address {
        /// The text parsed.
        input: String,
        /// The address parser's error.
        #[source]
        source: std::net::AddrParseError,
    },
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let prefix_error = |source| CidrError::Prefix {
            input: s.to_string(),
            source,
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => {
                let p: u8 = p.parse().map_err(|e| prefix_error(Some(e)))?;
                (a, p)
            }
            None => (s, 32),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|e| CidrError::Address {
            input: s.to_string(),
            source: e,
        })?;
        Cidr::new(addr, prefix).ok_or_else(|| prefix_error(None))
    }
}

/// A list of networks; an address is in the list when any network holds it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetList(pub Vec<Cidr>);

impl NetList {
    /// Every address (`0.0.0.0/0`).
    pub fn everyone() -> NetList {
        NetList(vec![Cidr {
            network: 0,
            mask: 0,
            prefix: 0,
        }])
    }

    /// The loopback network only.
    pub fn loopback() -> NetList {
        NetList(vec![Cidr::LOOPBACK])
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }
}

impl std::fmt::Display for NetList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, c) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

// Sizes are parsed in `units` (the same rules for every option); kept
// here under their old names for the fuzz targets and older callers.
pub use crate::units::{SizeError, parse_size};

/// Every limit a server applies, with the defaults of `docs/SECURITY.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Sources that may use the server at all; others are dropped silently.
    pub allow: NetList,
    /// Sources whose dump requests are answered; others are dropped.
    pub allow_dump: NetList,
    /// Largest accounted size of the store (keys + values + per-pair overhead).
    pub max_memory: u64,
    /// Reply bytes per second one source address may receive.
    pub reply_rate: u64,
    /// Reply bytes one source may receive at once (token-bucket depth).
    pub reply_burst: u64,
    /// Sources the reply budget does not apply to.
    pub budget_exempt: NetList,
    /// How many source addresses the budget table tracks at most.
    pub budget_sources: usize,
    /// Receive buffer of the server's socket, in bytes: the only queue of
    /// requests waiting to be served.
    pub recv_buffer: u64,
    /// Authentication (`--key-file`): `None` serves everyone as before.
    pub auth: Option<AuthConfig>,
    /// Speak protocol v1 only (`dkvs-server --protocol v1`): every datagram
    /// is read as protocol v1 says, so a v2 request gets the v1 refusal (the
    /// empty datagram) exactly as from a server of the original design.
    pub v1_only: bool,
    /// How far ahead of this server's clock a write's version may be
    /// (`--max-clock-offset`, in ms); further is refused with the reason.
    pub max_clock_offset_ms: u64,
}

/// The environment variable naming a key file, like `--key-file`.
pub const KEY_FILE_ENV: &str = "DKVS_KEY_FILE";

/// What to do when servers refuse requests as unauthenticated (REFUSED 5
/// to an unsigned request: a keyed server refuses every unsigned one, and
/// a keyed client never sees the unsigned refusals of a server that does
/// not hold its key).
pub const NEEDS_KEY_HINT: &str =
    "this cluster needs a key; pass --key-file FILE or set DKVS_KEY_FILE";

/// The one message every tool gives when `who` (`3 of 3 servers`, or a
/// server's address) refused its `what` (`request`, `STATS request`,
/// `dump`) as unauthenticated: what happened and [`NEEDS_KEY_HINT`].
pub fn refused_unauthenticated(who: &str, what: &str) -> String {
    format!("{who} refused the {what} as unauthenticated: {NEEDS_KEY_HINT}")
}

/// Default replay window of authenticated datagrams: a signed datagram is
/// accepted when its timestamp is within 30 s of the receiver's clock, on
/// either side (`docs/SECURITY.md`, DECISIONS #64).
pub const AUTH_WINDOW_MS: u64 = 30_000;

/// What a server with a key accepts: the keys of its key file (the first
/// one signs, every one verifies) and the replay window.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The accepted keys, in key-file order.
    pub keys: Arc<[AuthKey]>,
    /// The replay window, in ms on either side of the receiver's clock.
    pub window_ms: u64,
}

impl AuthConfig {
    /// The keys of key file `path` with the default window.
    pub fn load(path: &Path) -> Result<AuthConfig, KeyFileLoadError> {
        Ok(AuthConfig {
            keys: read_key_file(path)?.into(),
            window_ms: AUTH_WINDOW_MS,
        })
    }

    /// The key that signs (the first of the file).
    pub fn signer(&self) -> Option<&AuthKey> {
        self.keys.first()
    }
}

/// Two configurations are equal when they hold the same key ids in the same
/// order and the same window (secrets are not compared: they are never
/// looked at outside signing and checking).
impl PartialEq for AuthConfig {
    fn eq(&self, other: &AuthConfig) -> bool {
        self.window_ms == other.window_ms
            && self
                .keys
                .iter()
                .map(AuthKey::id)
                .eq(other.keys.iter().map(AuthKey::id))
    }
}

impl Eq for AuthConfig {}

/// Why a key file cannot be used, without its name ([`read_key_file_quietly`]).
#[derive(Debug, thiserror::Error)]
pub enum KeyFileReadError {
    /// The file cannot be read.
    #[error("cannot read it: {0}")]
    Read(#[source] std::io::Error),
    /// The file is not a valid key file (`line 2: …`).
    #[error(transparent)]
    Parse(#[from] crate::protocol_v2::KeyFileError),
}

/// Why key file `path` cannot be used ([`read_key_file`]): `key file PATH:
/// …`.
#[derive(Debug, thiserror::Error)]
#[error("key file {}: {source}", path.display())]
pub struct KeyFileLoadError {
    /// The key file.
    pub path: PathBuf,
    /// What is wrong with it.
    #[source]
    pub source: KeyFileReadError,
}

/// Reads and parses a key file ([`crate::protocol_v2::parse_key_file`]);
/// errors name the file and the line, never a secret.
pub fn read_key_file(path: &Path) -> Result<Vec<AuthKey>, KeyFileLoadError> {
    read_key_file_quietly(path).map_err(|source| KeyFileLoadError {
        path: path.to_path_buf(),
        source,
    })
}

/// [`read_key_file`] with errors that do not name the file (the caller
/// names it, with where its name came from): `cannot read it:
/// …` or the parse error (`line 2: …`).
pub fn read_key_file_quietly(path: &Path) -> Result<Vec<AuthKey>, KeyFileReadError> {
    let text = std::fs::read_to_string(path).map_err(KeyFileReadError::Read)?;
    Ok(crate::protocol_v2::parse_key_file(&text)?)
}

/// Default `--max-memory`: 1 GiB.
pub const DEFAULT_MAX_MEMORY: u64 = 1 << 30;
/// Default `--reply-rate`: 16 MiB of replies per second per source.
pub const DEFAULT_REPLY_RATE: u64 = 16 << 20;
/// Default `--reply-burst`: 4 MiB.
pub const DEFAULT_REPLY_BURST: u64 = 4 << 20;
/// Default size of the budget table (source addresses tracked).
pub const DEFAULT_BUDGET_SOURCES: usize = 65536;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            allow: NetList::everyone(),
            allow_dump: NetList::loopback(),
            max_memory: DEFAULT_MAX_MEMORY,
            reply_rate: DEFAULT_REPLY_RATE,
            reply_burst: DEFAULT_REPLY_BURST,
            budget_exempt: NetList::loopback(),
            budget_sources: DEFAULT_BUDGET_SOURCES,
            recv_buffer: RECV_BUFFER_BYTES as u64,
            auth: None,
            v1_only: false,
            max_clock_offset_ms: crate::hlc::DEFAULT_MAX_CLOCK_OFFSET_MS,
        }
    }
}

/// The `dkvs-server` options that set the [`Limits`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LimitArgs {
    /// Serve only sources in CIDR (repeatable; others are dropped silently;
    /// `none`: nobody) [default: everyone]
    #[arg(long = "allow", value_name = "CIDR", value_parser = parse_net,
          help_heading = NETWORK)]
    pub allow: Vec<Option<Cidr>>,
    /// Answer dump requests only from CIDR (repeatable; `none`: nobody)
    /// [default: 127.0.0.0/8]
    #[arg(long = "allow-dump", value_name = "CIDR", value_parser = parse_net,
          help_heading = NETWORK)]
    pub allow_dump: Vec<Option<Cidr>>,
    /// Refuse puts once keys + values + 64 bytes per pair would exceed SIZE
    /// (e.g. 512MiB or 1.5G; K = 1024; a bare number is bytes)
    /// [default: 1GiB]
    #[arg(long = "max-memory", value_name = "SIZE", value_parser = parse_size,
          help_heading = LIMITS)]
    pub max_memory: Option<u64>,
    /// Reply bytes per second one source address may receive (counting 28
    /// header bytes per datagram); beyond, requests are dropped
    /// [default: 16MiB]
    #[arg(long = "reply-rate", value_name = "SIZE", value_parser = parse_size,
          help_heading = LIMITS)]
    pub reply_rate: Option<u64>,
    /// Reply bytes one source may receive in a burst [default: 4MiB]
    #[arg(long = "reply-burst", value_name = "SIZE", value_parser = parse_size,
          help_heading = LIMITS)]
    pub reply_burst: Option<u64>,
    /// Sources the reply budget does not apply to (repeatable; `none`)
    /// [default: 127.0.0.0/8]
    #[arg(long = "budget-exempt", value_name = "CIDR", value_parser = parse_net,
          help_heading = LIMITS)]
    pub budget_exempt: Vec<Option<Cidr>>,
    /// Receive buffer of the socket, the only queue of waiting requests
    /// (the kernel caps it at net.core.rmem_max) [default: 4MiB]
    #[arg(long = "recv-buffer", value_name = "SIZE", value_parser = parse_size,
          help_heading = NETWORK)]
    pub recv_buffer: Option<u64>,
    /// Accept only requests signed with a key of FILE (`<id> <hex secret>`
    /// per line; v1 and unsigned v2 are refused; see docs/SECURITY.md)
    /// [default: $DKVS_KEY_FILE]
    // DKVS_KEY_FILE is read by `server::serve_until_signal`, not by clap,
    // so that an empty variable counts as unset.
    #[arg(long = "key-file", value_name = "FILE", help_heading = NETWORK)]
    pub key_file: Option<std::path::PathBuf>,
    /// Refuse a put or delete whose version is more than DURATION ahead of
    /// this server's clock (e.g. 500ms, 2s; a bare number is milliseconds):
    /// the writer's clock is wrong (it is told by how much). Smaller skews
    /// are absorbed by clients re-stamping their writes; see
    /// docs/RELIABILITY.md [default: 500ms]
    #[arg(long = "max-clock-offset", value_name = "DURATION",
          value_parser = parse_max_clock_offset, help_heading = LIMITS)]
    pub max_clock_offset_ms: Option<u64>,
}

/// The `dkvs-server --help` heading of the options about who may reach the
/// server and how.
pub const NETWORK: &str = "Network";
/// The `dkvs-server --help` heading of the options that bound what the
/// server accepts.
pub const LIMITS: &str = "Limits";

/// What `--max-clock-offset` accepts: 1 ms to a day, bare numbers in ms.
pub const MAX_CLOCK_OFFSET: crate::units::DurationSpec =
    crate::units::DurationSpec::millis(1, 86_400_000);

/// Parses `--max-clock-offset` into milliseconds ([`MAX_CLOCK_OFFSET`]).
pub fn parse_max_clock_offset(s: &str) -> Result<u64, crate::units::DurationError> {
    MAX_CLOCK_OFFSET.parse_whole(s)
}

/// Parses a CIDR option value; `none` is `None` (an empty list).
pub fn parse_net(s: &str) -> Result<Option<Cidr>, CidrError> {
    if s.eq_ignore_ascii_case("none") {
        Ok(None)
    } else {
        s.parse().map(Some)
    }
}

impl LimitArgs {
    /// The keys of `--key-file`, if given.
    pub fn auth(&self) -> Result<Option<AuthConfig>, KeyFileLoadError> {
        self.key_file.as_deref().map(AuthConfig::load).transpose()
    }

    /// The limits these options ask for, defaults for the others.
    pub fn limits(&self) -> Limits {
        let d = Limits::default();
        let list = |given: &[Option<Cidr>], default: NetList| {
            if given.is_empty() {
                default
            } else {
                NetList(given.iter().flatten().copied().collect())
            }
        };
        Limits {
            allow: list(&self.allow, d.allow),
            allow_dump: list(&self.allow_dump, d.allow_dump),
            max_memory: self.max_memory.unwrap_or(d.max_memory),
            reply_rate: self.reply_rate.unwrap_or(d.reply_rate),
            reply_burst: self.reply_burst.unwrap_or(d.reply_burst),
            budget_exempt: list(&self.budget_exempt, d.budget_exempt),
            budget_sources: d.budget_sources,
            recv_buffer: self.recv_buffer.unwrap_or(d.recv_buffer),
            auth: None,
            v1_only: false,
            max_clock_offset_ms: self.max_clock_offset_ms.unwrap_or(d.max_clock_offset_ms),
        }
    }
}

/// Bytes counted for the IPv4 and UDP headers of every reply datagram, so
/// that empty replies are not free.
pub const DATAGRAM_OVERHEAD: u64 = 28;

/// One source's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Shards of the budget table (each with its own lock).
const BUDGET_SHARDS: usize = 16;

/// A per-source budget on reply bytes: one token bucket per source IP in a
/// bounded table.
///
/// The table cannot be flooded: it holds at most `budget_sources` entries.
/// When a shard is full, buckets that have refilled completely are evicted
/// (a full bucket is the same as a fresh one, so nothing is lost); if none
/// has, the new source shares one overflow bucket with every other source
/// that does not fit. So the whole server never sends more than
/// `(budget_sources + 1) × rate` bytes per second to non-exempt sources,
/// however many addresses an attacker forges.
#[derive(Debug)]
pub struct ReplyBudget {
    rate: f64,
    burst: f64,
    per_shard: usize,
    hasher: RandomState,
    shards: Vec<Mutex<Shard>>,
    overflow: Mutex<Bucket>,
}

#[derive(Debug)]
struct Shard {
    buckets: HashMap<Ipv4Addr, Bucket>,
    last_sweep: Option<Instant>,
}

/// Shortest time between two eviction sweeps of one full shard, so that a
/// flood of new sources cannot make every request scan the table.
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

impl ReplyBudget {
    /// A budget of `rate` bytes/s with bursts of `burst` bytes per source,
    /// tracking at most `sources` addresses.
    pub fn new(rate: u64, burst: u64, sources: usize) -> ReplyBudget {
        let now = Instant::now();
        ReplyBudget {
            rate: rate as f64,
            burst: burst as f64,
            per_shard: sources.div_ceil(BUDGET_SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..BUDGET_SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        buckets: HashMap::new(),
                        last_sweep: None,
                    })
                })
                .collect(),
            overflow: Mutex::new(Bucket {
                tokens: burst as f64,
                last: now,
            }),
        }
    }

    /// Takes `bytes` from `ip`'s bucket at time `now`. False (and nothing
    /// taken) when the bucket holds fewer tokens: the reply must be dropped.
    pub fn take(&self, ip: Ipv4Addr, bytes: u64, now: Instant) -> bool {
        let index = (self.hasher.hash_one(ip) as usize) % BUDGET_SHARDS;
        let Some(shard) = self.shards.get(index) else {
            return false;
        };
        let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
        let shard = &mut *shard;
        if let Some(bucket) = shard.buckets.get_mut(&ip) {
            return self.spend(bucket, bytes, now);
        }
        if shard.buckets.len() >= self.per_shard {
            let due = shard
                .last_sweep
                .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_INTERVAL);
            if due {
                shard.last_sweep = Some(now);
                shard.buckets.retain(|_, b| !self.is_full(b, now));
            }
        }
        if shard.buckets.len() < self.per_shard {
            let mut bucket = Bucket {
                tokens: self.burst,
                last: now,
            };
            let ok = self.spend(&mut bucket, bytes, now);
            shard.buckets.insert(ip, bucket);
            return ok;
        }
        let mut overflow = self.overflow.lock().unwrap_or_else(|p| p.into_inner());
        self.spend(&mut overflow, bytes, now)
    }

    /// Number of sources tracked now.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).buckets.len())
            .sum()
    }

    fn refill(&self, bucket: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now.max(bucket.last);
    }

    fn is_full(&self, bucket: &Bucket, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens + elapsed * self.rate >= self.burst
    }

    fn spend(&self, bucket: &mut Bucket, bytes: u64, now: Instant) -> bool {
        self.refill(bucket, now);
        let cost = bytes as f64;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            true
        } else {
            false
        }
    }
}

/// Counters of a running server, updated without locks.
#[derive(Debug, Default)]
pub struct Stats {
    /// Datagrams received.
    pub requests: AtomicU64,
    /// Refusal replies sent: malformed puts.
    pub refused: AtomicU64,
    /// Datagrams from a source outside `--allow`, dropped silently.
    pub not_allowed: AtomicU64,
    /// Dump requests from a source outside `--allow-dump`, dropped.
    pub dump_denied: AtomicU64,
    /// Replies not sent because the source was over its reply budget.
    pub over_budget: AtomicU64,
    /// Puts refused because the store would exceed `--max-memory`.
    pub over_memory: AtomicU64,
    /// Puts refused because a durable store would exceed `--max-disk`, or
    /// eat into the disk's free-space reserve.
    pub over_disk: AtomicU64,
    /// Panics caught while handling a request (the server kept serving).
    pub panics: AtomicU64,
    /// Receive loops restarted after ending abnormally.
    pub restarts: AtomicU64,
    /// Datagrams rejected by authentication (`--key-file`): v1 requests,
    /// unsigned, forged, unknown-key, out-of-window or truncated v2.
    pub unauthenticated: AtomicU64,
    /// Reads and writes the storage engine failed (I/O errors).
    pub engine_errors: AtomicU64,
    /// Gets refused because the key's stored record failed its check
    /// (v2 REFUSED 12 *corrupt*, v1's empty refusal).
    pub refused_corrupt: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsSnapshot {
    /// Datagrams received.
    pub requests: u64,
    /// Refusal replies sent for malformed puts.
    pub refused: u64,
    /// Datagrams dropped by the `--allow` list.
    pub not_allowed: u64,
    /// Dumps dropped by the `--allow-dump` list.
    pub dump_denied: u64,
    /// Replies dropped by the reply budget.
    pub over_budget: u64,
    /// Puts refused by `--max-memory`.
    pub over_memory: u64,
    /// Puts refused by `--max-disk` or the disk's reserve.
    pub over_disk: u64,
    /// Panics caught.
    pub panics: u64,
    /// Receive loops restarted.
    pub restarts: u64,
    /// Datagrams rejected by authentication.
    pub unauthenticated: u64,
    /// Storage engine failures.
    pub engine_errors: u64,
    /// Gets refused: the stored record failed its check.
    pub refused_corrupt: u64,
}

impl Stats {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StatsSnapshot {
            requests: get(&self.requests),
            refused: get(&self.refused),
            not_allowed: get(&self.not_allowed),
            dump_denied: get(&self.dump_denied),
            over_budget: get(&self.over_budget),
            over_memory: get(&self.over_memory),
            over_disk: get(&self.over_disk),
            panics: get(&self.panics),
            restarts: get(&self.restarts),
            unauthenticated: get(&self.unauthenticated),
            engine_errors: get(&self.engine_errors),
            refused_corrupt: get(&self.refused_corrupt),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_parse_and_contains() {
        let c: Cidr = "10.1.2.3/8".parse().unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains(Ipv4Addr::new(10, 200, 0, 1)));
        assert!(!c.contains(Ipv4Addr::new(11, 0, 0, 1)));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains(Ipv4Addr::LOCALHOST));
        assert!(!one.contains(Ipv4Addr::new(127, 0, 0, 2)));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(8, 8, 8, 8)));
        for bad in [
            "",
            "1.2.3",
            "1.2.3.4/33",
            "1.2.3.4/",
            "x/8",
            "1.2.3.4/-1",
            "::1/128",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert!(Cidr::LOOPBACK.contains(Ipv4Addr::new(127, 9, 9, 9)));
        assert_eq!(
            Some(Cidr::LOOPBACK),
            Cidr::new(Ipv4Addr::new(127, 1, 1, 1), 8)
        );
    }

    #[test]
    fn netlist() {
        assert!(NetList::everyone().contains(Ipv4Addr::new(1, 2, 3, 4)));
        assert!(!NetList::default().contains(Ipv4Addr::LOCALHOST));
        assert_eq!(NetList::default().to_string(), "none");
        let l = NetList(vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.1".parse().unwrap(),
        ]);
        assert_eq!(l.to_string(), "10.0.0.0/8,127.0.0.1/32");
        assert!(l.contains(Ipv4Addr::new(10, 9, 9, 9)));
        assert!(!l.contains(Ipv4Addr::new(127, 0, 0, 2)));
    }

    #[test]
    fn sizes() {
        // The rules are `units`'s; the options here take every form.
        assert_eq!(parse_size("64K"), Ok(65536));
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert!(parse_size("12XB").is_err());
    }

    #[test]
    fn bucket_refills_at_rate() {
        let b = ReplyBudget::new(1000, 500, 16);
        let ip = Ipv4Addr::new(10, 0, 0, 1);
        let t0 = Instant::now();
        assert!(b.take(ip, 300, t0));
        assert!(b.take(ip, 200, t0));
        assert!(!b.take(ip, 1, t0), "bucket empty");
        // Another source has its own bucket.
        assert!(b.take(Ipv4Addr::new(10, 0, 0, 2), 500, t0));
        // 100 ms later: 100 bytes back.
        let t1 = t0 + Duration::from_millis(100);
        assert!(!b.take(ip, 150, t1));
        assert!(b.take(ip, 100, t1));
        // Never more than the burst.
        let t2 = t0 + Duration::from_secs(100);
        assert!(!b.take(ip, 501, t2));
        assert!(b.take(ip, 500, t2));
    }

    #[test]
    fn table_is_bounded_and_forged_sources_share_overflow() {
        let b = ReplyBudget::new(1000, 1000, 32);
        let t0 = Instant::now();
        let mut granted = 0u64;
        for i in 0..10_000u32 {
            if b.take(Ipv4Addr::from(0x0a00_0000 + i), 1000, t0) {
                granted += 1;
            }
        }
        assert!(b.tracked() <= 32 + BUDGET_SHARDS, "tracked {}", b.tracked());
        // Each tracked source got its burst, plus one burst for all others.
        assert!(granted <= b.tracked() as u64 + 1, "granted {granted}");
        // Once the buckets have refilled they are evicted for new sources.
        let later = t0 + Duration::from_secs(10);
        assert!(b.take(Ipv4Addr::new(192, 168, 0, 1), 1000, later));
        assert!(b.tracked() <= 32 + BUDGET_SHARDS);
    }

    #[test]
    fn args_to_limits() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            l: LimitArgs,
        }
        let d = T::try_parse_from(["t"]).unwrap().l.limits();
        assert_eq!(d, Limits::default());
        let l = T::try_parse_from([
            "t",
            "--allow",
            "10.0.0.0/8",
            "--allow",
            "127.0.0.1",
            "--allow-dump",
            "none",
            "--max-memory",
            "64K",
            "--reply-rate",
            "1M",
            "--reply-burst",
            "100",
            "--budget-exempt",
            "none",
        ])
        .unwrap()
        .l
        .limits();
        assert_eq!(l.allow.to_string(), "10.0.0.0/8,127.0.0.1/32");
        assert_eq!(l.allow_dump, NetList::default());
        assert_eq!(l.budget_exempt, NetList::default());
        assert_eq!(
            (l.max_memory, l.reply_rate, l.reply_burst),
            (65536, 1 << 20, 100)
        );
        assert!(T::try_parse_from(["t", "--allow", "10.0.0.0/40"]).is_err());
        assert!(T::try_parse_from(["t", "--max-memory", "lots"]).is_err());
    }

    #[test]
    fn stats_snapshot() {
        let s = Stats::default();
        Stats::bump(&s.requests);
        Stats::bump(&s.requests);
        Stats::bump(&s.over_memory);
        let snap = s.snapshot();
        assert_eq!(snap.requests, 2);
        assert_eq!(snap.over_memory, 1);
        assert_eq!(snap.panics, 0);
    }
}
