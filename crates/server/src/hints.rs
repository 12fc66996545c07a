//! Hinted handoff, the holder's side (issue 8, `docs/PROTOCOL.md`,
//! "Hinted handoff"): a server asked to keep a write for one of the key's
//! home servers that did not answer (a v2 HINT) keeps it here, apart from
//! its own data, and a background task hands it over when the owner
//! answers again.
//!
//! Why a module of its own: hints are not the server's data (a get, a dump
//! or anti-entropy never sees them), they are keyed by owner, they must
//! survive a restart of a durable holder (a `hints.redb` file in its data
//! directory, written before the HINT is acknowledged) and they have a
//! life cycle — kept, probed for, delivered, dropped — that the engines
//! know nothing about.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::engine::{Record, RecordError, decode_record, encode_record};
use crate::hlc::Clock;
use crate::peer::Request;
use crate::protocol_v2::{self, AuthKey, Message};
use crate::version::Version;

/// Bytes of keys and values (plus 96 bytes per hint) all hints together
/// may hold (64 MiB): past it,
/// a HINT is refused (REFUSED 3) and the client simply has no hint.
pub const MAX_HINT_BYTES: u64 = 64 << 20;

/// How long a hint is kept when its owner never answers (Cassandra's
/// `max_hint_window` default): past it the owner relies on read repair and
/// anti-entropy, and a hint for an address that is gone for good does not
/// stay forever.
pub const MAX_HINT_AGE: Duration = Duration::from_secs(3 * 3600);

/// How often the handoff task looks for owners to deliver to.
pub const HANDOFF_INTERVAL: Duration = Duration::from_millis(500);

/// Hints delivered to one owner per round, at most.
const DELIVERY_BATCH: usize = 256;

/// The file a durable holder keeps its hints in, inside its data directory.
pub const HINTS_FILE: &str = "hints.redb";

const HINTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("hints");

/// What became of a HINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HintOutcome {
    /// Kept (or already kept at this version).
    Stored,
    /// A newer hint for this owner and key is kept.
    Older(Version),
    /// Not kept: the hint limit is reached.
    Full,
    /// Not kept: the hints file could not be written (logged).
    Failed,
}

/// One owner's hints: key → (record, when it was received, ms since the
/// epoch).
type OwnerHints = BTreeMap<Bytes, (Record, u64)>;

/// The hints a server holds for other servers: in memory, and in a
/// `hints.redb` file when the server has a data directory.
pub struct HintStore {
    /// owner → key → (record, when it was received).
    hints: Mutex<BTreeMap<SocketAddrV4, OwnerHints>>,
    /// Bytes of keys and values held.
    bytes: Mutex<u64>,
    limit: u64,
    file: Option<redb::Database>,
}

impl std::fmt::Debug for HintStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HintStore")
            .field("pending", &self.pending())
            .field("durable", &self.file.is_some())
            .finish()
    }
}

/// What one hint costs against [`MAX_HINT_BYTES`]: its key and value plus
/// a fixed overhead for the maps and the record (so a flood of tiny hints
/// is bounded too).
fn entry_size(key: &[u8], value: &[u8]) -> u64 {
    (key.len() + value.len()) as u64 + ENTRY_OVERHEAD
}

/// Bytes charged per hint on top of its key and value.
const ENTRY_OVERHEAD: u64 = 96;

/// The file key of a hint: the owner (4 address bytes, 2 port bytes) then
/// the key.
fn file_key(owner: SocketAddrV4, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(6 + key.len());
    out.extend_from_slice(&owner.ip().octets());
    out.extend_from_slice(&owner.port().to_be_bytes());
    out.extend_from_slice(key);
    out
}

fn split_file_key(bytes: &[u8]) -> Option<(SocketAddrV4, &[u8])> {
    let (head, key) = bytes.split_at_checked(6)?;
    let [a, b, c, d, p1, p2] = <[u8; 6]>::try_from(head).ok()?;
    Some((
        SocketAddrV4::new(Ipv4Addr::new(a, b, c, d), u16::from_be_bytes([p1, p2])),
        key,
    ))
}

/// Why the hints file cannot be used ([`HintStore::open`]); the message
/// names the file.
#[derive(Debug, thiserror::Error)]
pub enum HintsError {
    /// The database library (redb) failed on the file.
    #[error("hints file {}: {source}", path.display())]
    Db {
        /// The hints file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: redb::Error,
    },
    /// A hint in the file cannot be read.
    #[error("hints file {}: {source}", path.display())]
    Corrupt {
        /// The hints file.
        path: PathBuf,
        /// What is wrong with the hint.
        #[source]
        source: BadHint,
    },
    /// A lock of the store was poisoned by a panic.
    #[error("hint lock poisoned")]
    Poisoned,
}

/// What is wrong with a hint read from the hints file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadHint {
    /// A key too short to name its owner.
    #[error("a hint key shorter than its owner")]
    ShortKey,
    /// A value too short to hold the receipt time.
    #[error("a hint shorter than its receipt time")]
    Short,
    /// The record after the receipt time cannot be decoded.
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl HintStore {
    /// Hints kept in memory only (a server without a data directory: its
    /// hints go when it stops, like its data).
    pub fn in_memory() -> HintStore {
        HintStore {
            hints: Mutex::default(),
            bytes: Mutex::new(0),
            limit: MAX_HINT_BYTES,
            file: None,
        }
    }

    /// Hints kept in `dir`/[`HINTS_FILE`] too, loaded from it now.
    pub fn open(dir: &Path) -> Result<HintStore, HintsError> {
        let path = dir.join(HINTS_FILE);
        let db_error = |e: redb::Error| HintsError::Db {
            path: path.clone(),
            source: e,
        };
        let bad_hint = |e: BadHint| HintsError::Corrupt {
            path: path.clone(),
            source: e,
        };
        let db = redb::Database::create(&path).map_err(|e| db_error(e.into()))?;
        let store = HintStore {
            file: None,
            ..HintStore::in_memory()
        };
        {
            let txn = db.begin_write().map_err(|e| db_error(e.into()))?;
            txn.open_table(HINTS).map_err(|e| db_error(e.into()))?;
            txn.commit().map_err(|e| db_error(e.into()))?;
            let txn = db.begin_read().map_err(|e| db_error(e.into()))?;
            let table = txn.open_table(HINTS).map_err(|e| db_error(e.into()))?;
            let mut hints = store.hints.lock().map_err(|_| HintsError::Poisoned)?;
            let mut bytes = 0u64;
            for entry in table.iter().map_err(|e| db_error(e.into()))? {
                let (k, v) = entry.map_err(|e| db_error(e.into()))?;
                let (owner, key) =
                    split_file_key(k.value()).ok_or_else(|| bad_hint(BadHint::ShortKey))?;
                let (received, record) = decode_hint(v.value()).map_err(bad_hint)?;
                bytes += entry_size(key, &record.value);
                hints
                    .entry(owner)
                    .or_default()
                    .insert(Bytes::copy_from_slice(key), (record, received));
            }
            *store.bytes.lock().map_err(|_| HintsError::Poisoned)? = bytes;
        }
        Ok(HintStore {
            file: Some(db),
            ..store
        })
    }

    /// Keeps `record` of `key` for `owner`, unless a newer one is kept.
    /// Durable: written to the hints file before this returns.
    pub fn store(&self, owner: SocketAddrV4, key: &[u8], record: Record) -> HintOutcome {
        let Ok(mut hints) = self.hints.lock() else {
            return HintOutcome::Failed;
        };
        let Ok(mut bytes) = self.bytes.lock() else {
            return HintOutcome::Failed;
        };
        let for_owner = hints.entry(owner).or_default();
        let old_size = match for_owner.get(key) {
            Some((kept, _)) if kept.version > record.version => {
                return HintOutcome::Older(kept.version);
            }
            Some((kept, _)) if kept.version == record.version => return HintOutcome::Stored,
            Some((kept, _)) => entry_size(key, &kept.value),
            None => 0,
        };
        let received = crate::hlc::SystemClock.now_ms();
        let new_size = entry_size(key, &record.value);
        if *bytes - old_size + new_size > self.limit {
            return HintOutcome::Full;
        }
        if let Some(db) = &self.file {
            let write = || -> Result<(), redb::Error> {
                let txn = db.begin_write()?;
                {
                    let mut table = txn.open_table(HINTS)?;
                    table.insert(
                        &file_key(owner, key)[..],
                        &encode_hint(received, &record)[..],
                    )?;
                }
                txn.commit()?;
                Ok(())
            };
            if let Err(e) = write() {
                tracing::error!(error = %e, "a hint could not be written to the hints file");
                return HintOutcome::Failed;
            }
        }
        *bytes = *bytes - old_size + new_size;
        for_owner.insert(Bytes::copy_from_slice(key), (record, received));
        HintOutcome::Stored
    }

    /// Hints held, all owners together.
    pub fn pending(&self) -> usize {
        self.hints
            .lock()
            .map(|h| h.values().map(BTreeMap::len).sum())
            .unwrap_or(0)
    }

    /// Hints held per owner, in address order.
    pub fn by_owner(&self) -> Vec<(SocketAddrV4, usize)> {
        self.hints
            .lock()
            .map(|h| {
                h.iter()
                    .filter(|(_, k)| !k.is_empty())
                    .map(|(o, k)| (*o, k.len()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// At most `max` hints for `owner` (key order).
    pub fn batch(&self, owner: SocketAddrV4, max: usize) -> Vec<(Bytes, Record)> {
        self.hints
            .lock()
            .map(|h| {
                h.get(&owner)
                    .map(|k| {
                        k.iter()
                            .take(max)
                            .map(|(k, (r, _))| (k.clone(), r.clone()))
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Drops the hint of `key` for `owner` if it is still at `version` (a
    /// newer hint that arrived during the delivery stays).
    pub fn delivered(&self, owner: SocketAddrV4, key: &[u8], version: Version) {
        let (Ok(mut hints), Ok(mut bytes)) = (self.hints.lock(), self.bytes.lock()) else {
            return;
        };
        let Some(for_owner) = hints.get_mut(&owner) else {
            return;
        };
        if for_owner.get(key).is_none_or(|(r, _)| r.version != version) {
            return;
        }
        if let Some(db) = &self.file {
            let remove = || -> Result<(), redb::Error> {
                let txn = db.begin_write()?;
                {
                    let mut table = txn.open_table(HINTS)?;
                    table.remove(&file_key(owner, key)[..])?;
                }
                txn.commit()?;
                Ok(())
            };
            if let Err(e) = remove() {
                // Kept: delivered again later (idempotent at the owner).
                tracing::error!(error = %e, "a delivered hint could not be removed from the hints file");
                return;
            }
        }
        if let Some((gone, _)) = for_owner.remove(key) {
            *bytes = bytes.saturating_sub(entry_size(key, &gone.value));
        }
        if for_owner.is_empty() {
            hints.remove(&owner);
        }
    }
}

impl HintStore {
    /// Drops the hints received before `before_ms` (older than
    /// [`MAX_HINT_AGE`]); how many.
    pub fn expire(&self, before_ms: u64) -> usize {
        let old: Vec<(SocketAddrV4, Bytes, Version)> = match self.hints.lock() {
            Ok(h) => h
                .iter()
                .flat_map(|(o, keys)| {
                    keys.iter()
                        .filter(|(_, (_, received))| *received < before_ms)
                        .map(|(k, (r, _))| (*o, k.clone(), r.version))
                })
                .collect(),
            Err(_) => return 0,
        };
        for (owner, key, version) in &old {
            self.delivered(*owner, key, *version);
        }
        if !old.is_empty() {
            tracing::warn!(
                dropped = old.len(),
                "hints older than the maximum hint age dropped"
            );
        }
        old.len()
    }
}

/// A hint as the hints file keeps it: when it was received (8 bytes,
/// big-endian ms), then the record ([`encode_record`]).
fn encode_hint(received: u64, record: &Record) -> Vec<u8> {
    let mut out = received.to_be_bytes().to_vec();
    out.extend_from_slice(&encode_record(record));
    out
}

fn decode_hint(bytes: &[u8]) -> Result<(u64, Record), BadHint> {
    let (head, record) = bytes.split_first_chunk::<8>().ok_or(BadHint::Short)?;
    Ok((u64::from_be_bytes(*head), decode_record(record)?))
}

/// The handoff task: every [`HANDOFF_INTERVAL`], drops hints older than
/// [`MAX_HINT_AGE`], probes every owner it holds hints for with HELLO (all
/// at once) and, to each that answers, delivers
/// up to [`DELIVERY_BATCH`] hints as v2 PUT or DELETE requests (signed with
/// `keys[0]` when the server has keys), dropping each hint the owner
/// answers STORED or OLDER. Runs until the runtime stops.
pub async fn handoff(store: Arc<HintStore>, keys: Arc<[AuthKey]>) {
    let Ok(socket) = tokio::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await else {
        tracing::error!("hinted handoff: cannot open a UDP socket; hints will not be delivered");
        return;
    };
    let mut ticker = tokio::time::interval(HANDOFF_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut id: u64 = rand::random();
    let max_age = u64::try_from(MAX_HINT_AGE.as_millis()).unwrap_or(u64::MAX);
    loop {
        ticker.tick().await;
        store.expire(crate::hlc::SystemClock.now_ms().saturating_sub(max_age));
        let owners: Vec<SocketAddrV4> = store.by_owner().into_iter().map(|(o, _)| o).collect();
        if owners.is_empty() {
            continue;
        }
        let alive = probe(&socket, &owners, id, &keys).await;
        id = id.wrapping_add(owners.len() as u64);
        for owner in alive {
            let batch = store.batch(owner, DELIVERY_BATCH);
            let delivered = deliver(&socket, owner, &mut id, &keys, &batch).await;
            for (key, version) in &delivered {
                store.delivered(owner, key, *version);
            }
            tracing::info!(
                %owner,
                delivered = delivered.len(),
                left = store.by_owner().iter().find(|(o, _)| *o == owner).map_or(0, |(_, n)| *n),
                "hinted handoff"
            );
        }
    }
}

/// The owners among `owners` that answer a HELLO (v2) within one wait
/// ([`crate::peer::REQUEST_TIMEOUT`]), all asked at once (request ids
/// `first_id`, `first_id` + 1, …): a silent owner costs the round one
/// wait, not one each.
async fn probe(
    socket: &tokio::net::UdpSocket,
    owners: &[SocketAddrV4],
    first_id: u64,
    keys: &[AuthKey],
) -> Vec<SocketAddrV4> {
    let requests: Vec<Request> = owners
        .iter()
        .enumerate()
        .filter_map(|(k, owner)| {
            let id = first_id.wrapping_add(k as u64);
            Some(Request {
                id,
                to: *owner,
                tag: k,
                datagram: crate::peer::encode(id, &Message::Hello, keys)?,
            })
        })
        .collect();
    let answers = crate::peer::exchange(socket, &requests, 1).await;
    requests
        .iter()
        .filter(|r| {
            r.reply(&answers).is_some_and(|reply| {
                matches!(
                    protocol_v2::decode(reply).map(|f| f.message),
                    Ok(Message::HelloReply { .. })
                )
            })
        })
        .map(|r| r.to)
        .collect()
}

/// Sends `batch` to `owner` (one request id each, resent once) and
/// returns the keys and versions it acknowledged (STORED or OLDER).
async fn deliver(
    socket: &tokio::net::UdpSocket,
    owner: SocketAddrV4,
    next_id: &mut u64,
    keys: &[AuthKey],
    batch: &[(Bytes, Record)],
) -> Vec<(Bytes, Version)> {
    let mut requests = Vec::with_capacity(batch.len());
    for (k, (key, record)) in batch.iter().enumerate() {
        *next_id = next_id.wrapping_add(1);
        let message = if record.tombstone {
            Message::Delete {
                key,
                version: record.version,
            }
        } else {
            Message::Put {
                key,
                value: &record.value,
                version: record.version,
            }
        };
        if let Some(datagram) = crate::peer::encode(*next_id, &message, keys) {
            requests.push(Request {
                id: *next_id,
                to: owner,
                tag: k,
                datagram,
            });
        }
    }
    let answers = crate::peer::exchange(socket, &requests, 2).await;
    requests
        .iter()
        .filter(|r| {
            r.reply(&answers).is_some_and(|reply| {
                matches!(
                    protocol_v2::decode(reply).map(|f| f.message),
                    Ok(Message::Stored | Message::Older { .. })
                )
            })
        })
        .filter_map(|r| {
            batch
                .get(r.tag)
                .map(|(key, rec)| (key.clone(), rec.version))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(t: u64) -> Version {
        Version {
            timestamp: crate::hlc::pack(t, 0),
            writer: 1,
        }
    }

    fn value(t: u64, bytes: &'static [u8]) -> Record {
        Record {
            version: v(t),
            tombstone: false,
            value: Bytes::from_static(bytes),
        }
    }

    fn owner(port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
    }

    #[test]
    fn newest_hint_per_owner_and_key_is_kept() {
        let s = HintStore::in_memory();
        assert_eq!(s.store(owner(1), b"k", value(5, b"a")), HintOutcome::Stored);
        assert_eq!(
            s.store(owner(1), b"k", value(3, b"old")),
            HintOutcome::Older(v(5))
        );
        assert_eq!(s.store(owner(1), b"k", value(5, b"a")), HintOutcome::Stored);
        assert_eq!(s.store(owner(2), b"k", value(1, b"x")), HintOutcome::Stored);
        assert_eq!(s.pending(), 2);
        assert_eq!(s.by_owner(), vec![(owner(1), 1), (owner(2), 1)]);
        assert_eq!(
            s.batch(owner(1), 10),
            vec![(Bytes::from_static(b"k"), value(5, b"a"))]
        );
        // A newer hint arrived during delivery: the older one's delivery
        // does not drop it.
        s.store(owner(1), b"k", value(9, b"b"));
        s.delivered(owner(1), b"k", v(5));
        assert_eq!(s.pending(), 2);
        s.delivered(owner(1), b"k", v(9));
        assert_eq!(s.by_owner(), vec![(owner(2), 1)]);
    }

    #[test]
    fn the_byte_limit_refuses_hints() {
        let s = HintStore {
            limit: 10 + ENTRY_OVERHEAD,
            ..HintStore::in_memory()
        };
        assert_eq!(
            s.store(owner(1), b"k", value(1, b"123456789")),
            HintOutcome::Stored
        );
        assert_eq!(s.store(owner(1), b"j", value(1, b"")), HintOutcome::Full);
        // Replacing a hint counts only the difference.
        assert_eq!(
            s.store(owner(1), b"k", value(2, b"12345678")),
            HintOutcome::Stored
        );
    }

    #[test]
    fn old_hints_expire() {
        let s = HintStore::in_memory();
        s.store(owner(1), b"k", value(1, b"a"));
        let now = crate::hlc::SystemClock.now_ms();
        assert_eq!(s.expire(now - 60_000), 0);
        assert_eq!(s.pending(), 1);
        assert_eq!(s.expire(now + 1), 1);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn durable_hints_survive_a_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let s = HintStore::open(tmp.path()).unwrap();
            s.store(owner(7), b"k", value(1, b"v"));
            s.store(owner(7), b"gone", Record::tombstone(v(2), 99));
            s.store(owner(8), b"x", value(3, b"w"));
            s.delivered(owner(8), b"x", v(3));
        }
        let s = HintStore::open(tmp.path()).unwrap();
        assert_eq!(s.by_owner(), vec![(owner(7), 2)]);
        let batch = s.batch(owner(7), 10);
        assert_eq!(batch.len(), 2);
        assert!(batch.iter().any(|(k, r)| &k[..] == b"gone" && r.tombstone));
    }
}
