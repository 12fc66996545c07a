//! The durable engine: pairs in a redb file inside a data directory.
//!
//! redb won the measurement of `benches/engines/` (`docs/STORAGE.md`): the
//! fastest durable commit of one put and of small groups, steady tail
//! latency, checksummed pages (a corrupt file is detected, not served),
//! pure Rust, and a reopen after a crash in ~0.1 s for a million keys.
//!
//! A data directory holds five files:
//! - `FORMAT`: the text [`FORMAT_TEXT`]; a directory without it that holds
//!   anything else is foreign and refused, so dkvs never writes into (or
//!   silently ignores) data it did not create;
//! - `LOCK`: locked (`flock`) while a server uses the directory, so a second
//!   server on the same directory is refused; it holds the owner's pid. It
//!   is created only once a read-only check found the directory empty or
//!   dkvs's, so a refused foreign directory is left untouched;
//! - `dkvs.redb`: the redb database, with a `data` table (key → record,
//!   [`super::encode_record`]) and a `meta` table (format number, accounted
//!   bytes, updated in the same transaction as the data);
//! - `dkvs.wal`: the write-ahead log ([`super::wal`]): the puts since the
//!   last checkpoint; created before `dkvs.created` and never deleted, so
//!   a missing log in a directory that held data is an error;
//! - `dkvs.created`: written once the database exists, so that a database
//!   file that later goes missing is an error, never a silent empty start.
//!
//! Each [`Engine::put_batch`] is one redb write transaction: the accepted
//! puts are appended to the log (fdatasynced under [`SyncPolicy::Always`])
//! and the transaction is committed without a sync. A checkpoint (an empty
//! synced redb commit, then the log emptied) runs every
//! [`CHECKPOINT_EVERY`], at [`CHECKPOINT_BYTES`] of log and when the engine
//! is dropped — but only when opening finished and the log is intact: a
//! failed start leaves the log for the next one. Opening replays the log
//! onto the last checkpoint. An I/O
//! error (a full disk) refuses the batch; one inside redb also reopens the
//! database and replays the log, so that what was stored stays readable.
//!
//! Layout, one job per file: this file holds [`DurableEngine`], its options
//! and its public API; `dir.rs` the data directory (lock, format marker),
//! `open.rs` opening the database and replaying the log, `write.rs` batches
//! of puts and the version rule, `read.rs` gets, dumps and pages,
//! `purge.rs` removals (tombstone sweep, rebalance), `checkpoint.rs` syncs
//! and checkpoints, and `space.rs` the `--max-disk` limit and the disk's
//! free-space reserve.

mod checkpoint;
pub(crate) mod dir;
mod open;
mod purge;
mod read;
pub(crate) mod space;
#[cfg(test)]
mod tests;
mod write;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redb::TableDefinition;

use super::wal::Wal;
use super::{Engine, EngineError, EngineStats, Pairs, PutResults, Record, SyncPolicy};

pub use space::{DISK_PAIR_OVERHEAD, disk_pair_size, disk_reserve};
pub(crate) use write::kept_instead;

/// The content of a data directory's `FORMAT` file.
pub const FORMAT_TEXT: &str = "dkvs data directory\nformat 1\nengine redb 3\n";
/// Name of the format file in a data directory.
pub const FORMAT_FILE: &str = "FORMAT";
/// Name of the lock file in a data directory.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the database file in a data directory.
pub const DB_FILE: &str = "dkvs.redb";
/// Name of the marker written once a database was created in a data
/// directory (so that a later missing database file is an error, not a
/// silent fresh start).
pub const CREATED_FILE: &str = "dkvs.created";

const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("data");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_FORMAT: &str = "format";
const META_USED: &str = "used_bytes";
const DB_FORMAT: u64 = 1;

/// How to open a durable engine (`--data-dir`, `--sync`, `--sync-interval`,
/// `--max-disk`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableOptions {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// When commits are synced.
    pub sync: SyncPolicy,
    /// Interval between syncs under [`SyncPolicy::Periodic`].
    pub sync_interval: Duration,
    /// Size limit in accounted bytes ([`disk_pair_size`]); `u64::MAX`: none.
    pub max_disk: u64,
    /// Bytes of memory redb may use for its page cache (the server passes
    /// `--max-memory`).
    pub cache: u64,
    /// The engine a new data directory gets (`--engine`; an existing one
    /// keeps its own: [`super::DiskEngine::open`]).
    pub engine: super::disk::EngineKind,
}

/// The page cache of a durable engine unless told otherwise: 1 GiB, like
/// the in-memory engine's default `--max-memory`.
pub const DEFAULT_CACHE: u64 = 1 << 30;

impl DurableOptions {
    /// Options for `dir` with `--sync always` and no size limit.
    pub fn new(dir: impl Into<PathBuf>) -> DurableOptions {
        DurableOptions {
            dir: dir.into(),
            sync: SyncPolicy::Always,
            sync_interval: Duration::from_secs(1),
            max_disk: u64::MAX,
            cache: DEFAULT_CACHE,
            engine: super::disk::EngineKind::default(),
        }
    }
}

/// What opening took, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenReport {
    /// Keys found (after the replay).
    pub keys: u64,
    /// Write-ahead log entries replayed (puts since the last checkpoint
    /// before a crash).
    pub replayed: u64,
    /// Time to open (including redb's repair and the replay after a crash).
    pub took: Duration,
}

/// The durable engine (see the module comment).
#[derive(Debug)]
pub struct DurableEngine {
    dir: PathBuf,
    cache: u64,
    /// `None` only while a reopen after an I/O error has failed.
    db: RwLock<Option<redb::Database>>,
    _lock: File,
    sync: SyncPolicy,
    sync_interval: Duration,
    limit: u64,
    keys: AtomicU64,
    used: AtomicU64,
    commits: AtomicU64,
    syncs: AtomicU64,
    /// The write-ahead log (written only by the committer).
    wal: Mutex<Wal>,
    /// Log entries appended but not yet synced.
    dirty: AtomicBool,
    /// When the last checkpoint made redb durable and emptied the log.
    checkpointed: Mutex<Instant>,
    /// The database was reopened but the log is not replayed into it yet:
    /// no put and no checkpoint until it is (a checkpoint would empty a log
    /// holding acknowledged puts the database does not have).
    pending_replay: AtomicBool,
    /// Opening finished: every log entry found was applied. Until then
    /// (and so when opening fails) dropping the engine neither checkpoints
    /// nor empties the log.
    ready: AtomicBool,
    /// A refused batch could not be taken back out of the log (or that
    /// undo could not be synced): the log may hold puts the database does
    /// not, which a replay would apply. Every put is refused until a
    /// restart (whose replay then applies them: see `docs/STORAGE.md`).
    broken: AtomicBool,
    /// When the last "disk nearly full" warning was logged (one per 10 s).
    warned_full: Mutex<Option<Instant>>,
    /// When a write last failed with an I/O error: puts are refused without
    /// trying for [`IO_RETRY`] after it.
    failed_at: std::sync::Mutex<Option<Instant>>,
    /// Held by each batch of puts and each purge step, so the key and
    /// byte counters (read before a transaction, stored after it) are
    /// never updated by two writers at once.
    writer: Mutex<()>,
    /// Where the next purge step resumes (the last key it examined).
    sweep_from: Mutex<Vec<u8>>,
    report: OpenReport,
}

/// Records a purge step examines at most (the sweep's bound of work).
pub const SWEEP_STEP: usize = 10_000;

/// A checkpoint (redb made durable, the log emptied) happens at least this
/// often while the log holds entries, which bounds the replay at start-up.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(10);
/// A checkpoint also happens once the log reaches this size.
pub const CHECKPOINT_BYTES: u64 = 16 << 20;

/// After a write fails (a full disk), puts are refused at once for this
/// long before the disk is tried again, so that a full disk costs one
/// failed write and one reopen per interval, not one per put.
pub const IO_RETRY: Duration = Duration::from_secs(1);

impl DurableEngine {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The sync policy in force.
    pub fn sync_policy(&self) -> SyncPolicy {
        self.sync
    }

    /// How often the committer calls [`Engine::sync`]: `sync_interval`
    /// under `periodic`, [`CHECKPOINT_EVERY`] otherwise (for checkpoints).
    pub fn sync_every(&self) -> Option<Duration> {
        match self.sync {
            SyncPolicy::Periodic => Some(self.sync_interval.min(CHECKPOINT_EVERY)),
            SyncPolicy::Always | SyncPolicy::None => Some(CHECKPOINT_EVERY),
        }
    }

    /// Keys found and time taken when the directory was opened.
    pub fn open_report(&self) -> OpenReport {
        self.report
    }

    fn read_db(&self) -> Result<RwLockReadGuard<'_, Option<redb::Database>>, EngineError> {
        self.db
            .read()
            .map_err(|_| EngineError::other("database lock poisoned"))
    }

    fn lock_wal(&self) -> Result<std::sync::MutexGuard<'_, Wal>, EngineError> {
        self.wal
            .lock()
            .map_err(|_| EngineError::other("write-ahead log lock poisoned"))
    }
}

impl Drop for DurableEngine {
    /// A clean stop: a checkpoint, so the next start has nothing to replay.
    /// Nothing happens when opening did not finish (the log was not
    /// applied: emptying it would lose acknowledged puts) or the log is
    /// broken (it may hold refused puts; they stay for the next replay).
    fn drop(&mut self) {
        if !self.ready.load(Ordering::Acquire) {
            return;
        }
        if self.broken.load(Ordering::Acquire) {
            tracing::error!("no final checkpoint: the write-ahead log could not be undone");
            return;
        }
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "final checkpoint failed; the log will be replayed at start");
        }
    }
}

/// The engine's work is in this module's files (see the module comment);
/// each method hands over to the one doing the job.
impl Engine for DurableEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, EngineError> {
        self.read_record(key)
    }

    fn put_batch(&self, puts: &[(Bytes, Record)]) -> PutResults {
        self.put_records(puts)
    }

    fn snapshot(&self) -> Result<Pairs, EngineError> {
        self.read_all()
    }

    fn page(&self, cursor: &[u8], max: usize) -> Result<(Pairs, bool), EngineError> {
        self.read_page(cursor, max)
    }

    /// Not logged, like a purge: a removal lost in a crash brings the key
    /// back, and the next rebalance pass removes it again.
    fn remove_if_unchanged(&self, key: &[u8], record: &Record) -> Result<bool, EngineError> {
        self.remove_unchanged(key, record)
    }

    /// One sweep step: examines up to [`SWEEP_STEP`] records from where the
    /// last step stopped (wrapping around at the end), in one transaction
    /// of the single writer. Not logged: a purge lost in a crash only
    /// brings back a tombstone, which the next sweep purges again.
    fn purge_tombstones(
        &self,
        now_ms: u64,
        grace_ms: u64,
        max: usize,
    ) -> Result<usize, EngineError> {
        self.purge_step(now_ms, grace_ms, max)
    }

    /// Syncs the log under `periodic` (what was appended since the last
    /// sync), and checkpoints when one is due.
    fn sync(&self) -> Result<(), EngineError> {
        self.sync_log()
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            keys: self.keys.load(Ordering::Acquire),
            used_bytes: self.used.load(Ordering::Acquire),
            limit: self.limit,
            commits: self.commits.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            corrupt_reads: 0,
        }
    }

    fn needs_committer(&self) -> bool {
        true
    }
}
