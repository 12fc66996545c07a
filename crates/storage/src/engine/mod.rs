//! Storage engines: where a server keeps its pairs.
//!
//! A server stores its pairs through the [`Engine`] interface so that the
//! same request handling runs on two engines: [`MemoryEngine`], the
//! in-memory map of [`crate::store`] (the default, lost at exit), and
//! [`DurableEngine`], a redb file in a data directory (`--data-dir`) that
//! survives restarts and crashes. The engine was chosen by measurement
//! (`benches/engines/`, `docs/STORAGE.md`).
//!
//! Every stored value is a [`Record`]: a value plus the [`Version`] and the
//! tombstone flag that protocol v2 adds, so data written today needs no
//! migration later. On disk a record is [`encode_record`]'s bytes: a format
//! byte, a flags byte, the version and the value.
//!
//! Durability is the [`committer`]'s job: puts from every receive loop are
//! handed to one thread that writes everything queued in one transaction,
//! syncs once ([`SyncPolicy`]), then sends all the replies (group commit).

pub mod committer;
pub mod disk;
pub mod durable;
pub mod log;
pub mod memory;
pub mod wal;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

pub use crate::version::Version;
// The policy is part of the cluster model: `cluster.toml` names it.
pub use committer::Committer;
pub use disk::{DiskEngine, EngineKind};
pub use dkvs_cluster::config::SyncPolicy;
pub use durable::{DurableEngine, DurableOptions};
pub use log::LogEngine;
pub use memory::MemoryEngine;
// The record type sits below both engines and the store (`crate::record`).
pub use crate::record::{Pairs, Record, tombstone_expired, tombstone_time_ms};

/// Format byte of the records [`encode_record`] writes.
pub const RECORD_FORMAT: u8 = 1;
/// Flags bit: the record is a tombstone.
pub const FLAG_TOMBSTONE: u8 = 1;
/// Bytes before the value in an encoded record: format, flags, timestamp,
/// writer.
pub const RECORD_HEADER: usize = 18;

/// A record as stored on disk: format byte [`RECORD_FORMAT`], flags byte
/// (bit 0: tombstone), timestamp and writer (big-endian u64 each), value.
pub fn encode_record(record: &Record) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + record.value.len());
    out.push(RECORD_FORMAT);
    out.push(if record.tombstone { FLAG_TOMBSTONE } else { 0 });
    out.extend_from_slice(&record.version.timestamp.to_be_bytes());
    out.extend_from_slice(&record.version.writer.to_be_bytes());
    out.extend_from_slice(&record.value);
    out
}

/// The version of a record in [`encode_record`]'s form, without copying
/// its value (`None` when it is too short to hold one).
pub fn encoded_version(bytes: &[u8]) -> Option<Version> {
    let version = bytes.get(2..RECORD_HEADER)?;
    Some(Version::from_bytes(version.try_into().ok()?))
}

/// Why bytes are not a record in [`encode_record`]'s form
/// ([`decode_record`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Fewer bytes than the header (the length given).
    #[error("record of {0} bytes is shorter than its header")]
    Short(usize),
    /// A format byte this version does not know.
    #[error("unknown record format {0}")]
    Format(u8),
    /// Flags this version does not know.
    #[error("unknown record flags {0:#04x}")]
    Flags(u8),
}

/// Reads bytes written by [`encode_record`]; an unknown format byte,
/// unknown flags or a short record is an error naming what is wrong.
pub fn decode_record(bytes: &[u8]) -> Result<Record, RecordError> {
    let short = || RecordError::Short(bytes.len());
    let (header, value) = bytes.split_at_checked(RECORD_HEADER).ok_or_else(short)?;
    let (&[format, flags], words) = header.split_first_chunk::<2>().ok_or_else(short)?;
    if format != RECORD_FORMAT {
        return Err(RecordError::Format(format));
    }
    if flags & !FLAG_TOMBSTONE != 0 {
        return Err(RecordError::Flags(flags));
    }
    let word = |i: usize| -> Result<u64, RecordError> {
        words
            .get(i..i + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(short)
    };
    Ok(Record {
        version: Version {
            timestamp: word(0)?,
            writer: word(8)?,
        },
        tombstone: flags & FLAG_TOMBSTONE != 0,
        value: Bytes::copy_from_slice(value),
    })
}

/// Why one put was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The engine's size limit (`--max-memory` or `--max-disk`) is reached.
    #[error("the store would exceed its size limit of {limit} bytes")]
    Full {
        /// The limit in force.
        limit: u64,
    },
    /// The disk is nearly full: storing the put would eat into the reserve
    /// the engine keeps so that it can always commit and recover.
    #[error("the disk is nearly full ({free} bytes free, {reserve} kept in reserve)")]
    NoSpace {
        /// Bytes free on the data directory's file system.
        free: u64,
        /// Bytes the engine keeps free.
        reserve: u64,
    },
    /// The engine could not write (I/O error such as a full disk); the
    /// message says what happened.
    #[error("storage error: {0}")]
    Io(String),
    /// Not stored because the engine keeps a newer version of the key
    /// (protocol v2's OLDER reply; not a failure: writes converge).
    #[error("a newer version is stored")]
    Older {
        /// The version kept.
        current: Version,
    },
}

/// The result of each put of a batch, in order ([`Engine::put_batch`]).
pub type PutResults = Vec<Result<(), Refused>>;

/// An engine failure that is not about one put: the data directory cannot
/// be opened or read. Each message is ready to print; the error that
/// caused it, if any, is kept as its [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An I/O error on a file of the data directory (`context` says which
    /// and what was being done).
    #[error("{context}: {source}")]
    Io {
        /// What failed, e.g. `cannot read /data/FORMAT`.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database library (redb) failed.
    #[error("{context}: {source}")]
    Db {
        /// What failed, e.g. `read failed`.
        context: String,
        /// redb's error.
        #[source]
        source: redb::Error,
    },
    /// A stored record (or a write-ahead log entry) cannot be decoded.
    #[error("{context}: {source}")]
    Corrupt {
        /// What was being read, e.g. `corrupt record`.
        context: String,
        /// What is wrong with its bytes.
        #[source]
        source: RecordError,
    },
    /// A stored record failed its check (CRC-32C, format): it is not
    /// served, neither as a value nor as "not found". The record is lost
    /// on this replica only; any put of the key replaces it, so read repair
    /// and anti-entropy can refill it from the others (log engine).
    #[error(
        "corrupt record of key \"{}\" in {file} at offset {offset}: {reason}",
        .key.escape_ascii()
    )]
    CorruptRecord {
        /// The key asked for.
        key: Box<[u8]>,
        /// The file holding the record (a segment file's name).
        file: String,
        /// Where in the file the record starts.
        offset: u64,
        /// What is wrong (e.g. `checksum mismatch`).
        reason: String,
    },
    /// The engine's own conditions, with no underlying error: a directory
    /// in use, foreign or damaged, a poisoned lock, a database unavailable.
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    /// An [`EngineError::Io`] error: `context: source`.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> EngineError {
        EngineError::Io {
            context: context.to_string(),
            source,
        }
    }

    /// An [`EngineError::Db`] error: `context: source`.
    pub fn db(context: impl fmt::Display, source: impl Into<redb::Error>) -> EngineError {
        EngineError::Db {
            context: context.to_string(),
            source: source.into(),
        }
    }

    /// An [`EngineError::Corrupt`] error: `context: source`.
    pub fn corrupt(context: impl fmt::Display, source: RecordError) -> EngineError {
        EngineError::Corrupt {
            context: context.to_string(),
            source,
        }
    }

    /// An [`EngineError::Other`] error with `message`.
    pub fn other(message: impl Into<String>) -> EngineError {
        EngineError::Other(message.into())
    }
}

/// Counters an engine reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EngineStats {
    /// Number of keys stored.
    pub keys: u64,
    /// Accounted bytes in use (keys, records and a per-pair overhead).
    pub used_bytes: u64,
    /// The size limit in accounted bytes (`u64::MAX`: none).
    pub limit: u64,
    /// Transactions committed (durable engine; 0 in memory).
    pub commits: u64,
    /// Syncs to disk (durable engine; 0 in memory).
    pub syncs: u64,
    /// Reads that found a record failing its check
    /// ([`EngineError::CorruptRecord`]; log engine).
    pub corrupt_reads: u64,
}

/// A storage engine: the map a server reads and writes.
///
/// Gets may run from any thread at any time. Writes come from one writer
/// at a time for the durable engine (the [`Committer`]); the in-memory
/// engine also accepts concurrent writers.
pub trait Engine: Send + Sync + fmt::Debug {
    /// The record stored under `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Record>, EngineError>;

    /// Stores every pair of `puts` in one transaction, made durable as the
    /// sync policy says before returning; the result of each put, in order.
    /// A put that does not fit is refused and leaves what is stored
    /// unchanged; the others are stored.
    ///
    /// Versions: a v1 record ([`Version::ZERO`], live) replaces whatever is
    /// stored (v1's rule). Any other record (a v2 put or a tombstone) is
    /// stored only when its version is higher than the stored one's: equal
    /// is a retransmission (`Ok`, unchanged), lower is
    /// [`Refused::Older`] with the version kept. The comparison and the
    /// write are atomic per key.
    fn put_batch(&self, puts: &[(Bytes, Record)]) -> PutResults;

    /// Every record (tombstones included), sorted by key.
    fn snapshot(&self) -> Result<Pairs, EngineError>;

    /// At most `max` records (tombstones included) whose keys sort strictly
    /// after `cursor` (every key when `cursor` is empty), in key order, and
    /// whether more follow: one page of a v2 dump, with no state kept
    /// between calls.
    fn page(&self, cursor: &[u8], max: usize) -> Result<(Pairs, bool), EngineError>;

    /// Removes tombstones expired at `now_ms` with grace `grace_ms`
    /// ([`tombstone_expired`]), at most `max` of them and with a bounded
    /// amount of work per call (a sweep step); the number removed. A
    /// tombstone replaced meanwhile by a newer write is never removed.
    fn purge_tombstones(
        &self,
        now_ms: u64,
        grace_ms: u64,
        max: usize,
    ) -> Result<usize, EngineError>;

    /// Removes the record of `key` if it is still exactly `record` (no
    /// tombstone is left: the key is gone from this server); true when
    /// removed. For a server handing keys it no longer owns to their
    /// owners (`crate::rebalance`); a write that arrived meanwhile with
    /// another version stays.
    fn remove_if_unchanged(&self, key: &[u8], record: &Record) -> Result<bool, EngineError>;

    /// Makes every committed put durable now (an fsync; nothing to do in
    /// memory).
    fn sync(&self) -> Result<(), EngineError>;

    /// The engine's counters.
    fn stats(&self) -> EngineStats;

    /// Number of keys.
    fn len(&self) -> u64 {
        self.stats().keys
    }

    /// True when no key is stored.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when a put is durable only once the committer has synced it, so
    /// puts must go through a [`Committer`]; false when [`Engine::put_batch`]
    /// is cheap and may be called from a receive loop.
    fn needs_committer(&self) -> bool;

    /// Stores records received from another replica (anti-entropy,
    /// `crate::anti_entropy`): as [`Engine::put_batch`], except that a
    /// received record never replaces a record of the other kind — a v1
    /// record ([`Version::ZERO`]) is stored only where the key is absent,
    /// and a versioned record (or tombstone) never replaces a v1 record —
    /// because values without versions are not ordered against versions
    /// (DECISIONS #78, #301); such puts are [`Refused::Older`] with the
    /// version kept. A record that failed its check here
    /// ([`EngineError::CorruptRecord`]) is replaced whatever its version:
    /// this is how anti-entropy refills it. This default reads the key
    /// first, so a write landing
    /// between the read and the put can be replaced (as a v1 write would
    /// replace it anyway); the in-memory engine stores v1 records
    /// atomically.
    fn merge_batch(&self, puts: &[(Bytes, Record)]) -> PutResults {
        let mut results: PutResults = Vec::with_capacity(puts.len());
        let mut kept = Vec::with_capacity(puts.len());
        let mut slots = Vec::with_capacity(puts.len());
        for (key, record) in puts {
            match self.get(key) {
                Ok(Some(current)) if record.is_v1() || current.is_v1() => {
                    results.push(Err(Refused::Older {
                        current: current.version,
                    }));
                    continue;
                }
                // A record that failed its check here is no version to
                // compare with: the replica's record replaces it.
                Ok(_) | Err(EngineError::CorruptRecord { .. }) => {}
                Err(e) => {
                    results.push(Err(Refused::Io(e.to_string())));
                    continue;
                }
            }
            slots.push(results.len());
            results.push(Ok(()));
            kept.push((key.clone(), record.clone()));
        }
        for (slot, result) in slots.into_iter().zip(self.put_batch(&kept)) {
            if let Some(r) = results.get_mut(slot) {
                *r = result;
            }
        }
        results
    }
}

/// The storage options of `dkvs-server` (and of servers the TUI spawns).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StorageArgs {
    /// Keep the pairs in DIR (created if missing) so that they survive a
    /// restart or a crash; without it they live in memory only. One server
    /// per directory (a second one is refused); --max-memory then bounds the
    /// database's page cache. See docs/STORAGE.md
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// With --data-dir: when puts reach the disk. `always`: a put is
    /// acknowledged only once synced (puts arriving together share one
    /// sync); `periodic`: synced every --sync-interval, a machine crash
    /// loses at most that much; `none`: left to the operating system. A
    /// crash of the server alone loses no acknowledged put in any policy
    #[arg(long = "sync", value_name = "POLICY", default_value_t = SyncPolicy::Always)]
    pub sync: SyncPolicy,
    /// With --sync periodic: time between syncs (e.g. 250ms, 2s; a bare
    /// number is milliseconds; at most 1h)
    #[arg(long = "sync-interval", value_name = "DURATION", default_value = "1s",
          value_parser = parse_sync_interval)]
    pub sync_interval_ms: u64,
    /// With --data-dir: refuse puts once keys + records + 64 bytes per pair
    /// would exceed SIZE (e.g. 20GiB; K = 1024; a bare number is bytes)
    /// [default: no limit but the disk's; a full disk also refuses puts]
    #[arg(long = "max-disk", value_name = "SIZE", value_parser = crate::units::parse_size)]
    pub max_disk: Option<u64>,
    /// With --data-dir: the storage engine a NEW data directory gets. `log`:
    /// append-only segments with a checksum per record, checked on every
    /// read; `redb`: a B-tree with a write-ahead log (the engine of
    /// directories made by older versions). An existing directory keeps
    /// the engine it was created with, whatever this says [default: log]
    #[arg(long = "engine", value_name = "ENGINE")]
    pub engine: Option<EngineKind>,
    /// How long a deleted key's tombstone is kept before a background sweep
    /// purges it (protocol v2 deletes; e.g. 10d, 36h; a bare number is
    /// seconds). A replica that misses a delete and comes back after the
    /// grace can bring the value back: repair or replace replicas within
    /// it. See docs/STORAGE.md
    #[arg(long = "tombstone-grace", value_name = "DURATION", default_value = "10d",
          value_parser = parse_tombstone_grace)]
    pub tombstone_grace_secs: u64,
}

/// What `--sync-interval` accepts: 1 ms to an hour, bare numbers in ms.
pub const SYNC_INTERVAL: crate::units::DurationSpec =
    crate::units::DurationSpec::millis(1, 3_600_000);

/// What `--tombstone-grace` accepts: any whole number of seconds, bare
/// numbers in seconds.
pub const TOMBSTONE_GRACE: crate::units::DurationSpec =
    crate::units::DurationSpec::seconds(Duration::ZERO, Duration::MAX);

/// Parses `--sync-interval` into milliseconds ([`SYNC_INTERVAL`]).
pub fn parse_sync_interval(s: &str) -> Result<u64, crate::units::DurationError> {
    SYNC_INTERVAL.parse_whole(s)
}

/// Parses `--tombstone-grace` into seconds ([`TOMBSTONE_GRACE`]).
pub fn parse_tombstone_grace(s: &str) -> Result<u64, crate::units::DurationError> {
    TOMBSTONE_GRACE.parse_whole(s)
}

/// Default of `--tombstone-grace`: 10 days, as Cassandra's
/// `gc_grace_seconds`.
pub const DEFAULT_TOMBSTONE_GRACE_SECS: u64 = 864_000;

impl Default for StorageArgs {
    /// In memory; with a data directory: `--sync always`, 1 s interval, no
    /// size limit (the command line's defaults).
    fn default() -> StorageArgs {
        StorageArgs {
            data_dir: None,
            sync: SyncPolicy::Always,
            sync_interval_ms: 1000,
            max_disk: None,
            engine: None,
            tombstone_grace_secs: DEFAULT_TOMBSTONE_GRACE_SECS,
        }
    }
}

impl StorageArgs {
    /// The durable engine's options, when `--data-dir` was given.
    pub fn durable(&self) -> Option<DurableOptions> {
        self.data_dir.as_ref().map(|dir| DurableOptions {
            dir: dir.clone(),
            sync: self.sync,
            sync_interval: Duration::from_millis(self.sync_interval_ms),
            max_disk: self.max_disk.unwrap_or(u64::MAX),
            cache: durable::DEFAULT_CACHE,
            engine: self.engine.unwrap_or_default(),
        })
    }

    /// The same options as command-line words (to spawn a server with
    /// them); empty when the engine is in memory.
    pub fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args = Vec::new();
        if self.tombstone_grace_secs != DEFAULT_TOMBSTONE_GRACE_SECS {
            args.push("--tombstone-grace".into());
            args.push(self.tombstone_grace_secs.to_string().into());
        }
        if let Some(dir) = &self.data_dir {
            args.push("--data-dir".into());
            args.push(dir.clone().into_os_string());
            args.push("--sync".into());
            args.push(self.sync.to_string().into());
            if self.sync_interval_ms != 1000 {
                args.push("--sync-interval".into());
                args.push(self.sync_interval_ms.to_string().into());
            }
            if let Some(max) = self.max_disk {
                args.push("--max-disk".into());
                args.push(max.to_string().into());
            }
            if let Some(engine) = self.engine {
                args.push("--engine".into());
                args.push(engine.as_str().into());
            }
        }
        args
    }
}

#[cfg(test)]
pub(crate) mod suite;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_errors() {
        let r = Record {
            version: Version {
                timestamp: 0x0102_0304_0506_0708,
                writer: 9,
            },
            tombstone: true,
            value: Bytes::from_static(b"value"),
        };
        let bytes = encode_record(&r);
        assert_eq!(bytes.len(), RECORD_HEADER + 5);
        assert_eq!(&bytes[..4], &[1, 1, 1, 2]);
        assert_eq!(decode_record(&bytes).unwrap(), r);
        let v1 = Record::v1(Bytes::new());
        assert_eq!(decode_record(&encode_record(&v1)).unwrap(), v1);
        assert!(
            decode_record(&bytes[..17])
                .unwrap_err()
                .to_string()
                .contains("shorter")
        );
        let mut bad = bytes.clone();
        bad[0] = 2;
        assert!(
            decode_record(&bad)
                .unwrap_err()
                .to_string()
                .contains("format 2")
        );
        let mut bad = bytes;
        bad[1] = 0x80;
        assert!(
            decode_record(&bad)
                .unwrap_err()
                .to_string()
                .contains("flags")
        );
    }

    #[test]
    fn storage_args_to_args() {
        let a = StorageArgs {
            data_dir: Some("/d".into()),
            sync: SyncPolicy::Periodic,
            sync_interval_ms: 1000,
            max_disk: Some(4096),
            engine: Some(EngineKind::Redb),
            tombstone_grace_secs: DEFAULT_TOMBSTONE_GRACE_SECS,
        };
        let words: Vec<String> = a
            .to_args()
            .into_iter()
            .map(|w| w.into_string().unwrap())
            .collect();
        assert_eq!(
            words,
            [
                "--data-dir",
                "/d",
                "--sync",
                "periodic",
                "--max-disk",
                "4096",
                "--engine",
                "redb"
            ]
        );
        assert!(StorageArgs::default().to_args().is_empty());
    }
}
