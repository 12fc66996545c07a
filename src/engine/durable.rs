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

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use redb::{Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::wal::{Entry, Wal};
use super::{
    Engine, EngineError, EngineStats, FLAG_TOMBSTONE, Pairs, PutResults, Record, Refused,
    SyncPolicy, decode_record, encode_record, encoded_version,
};

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
/// Bytes accounted for each pair beyond its key and encoded record (redb's
/// per-entry and page overhead, roughly).
pub const DISK_PAIR_OVERHEAD: u64 = 64;

const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("data");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_FORMAT: &str = "format";
const META_USED: &str = "used_bytes";
const DB_FORMAT: u64 = 1;

/// The accounted size of one pair on disk.
pub fn disk_pair_size(key: &[u8], record_len: usize) -> u64 {
    key.len() as u64 + record_len as u64 + DISK_PAIR_OVERHEAD
}

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

/// How [`DurableEngine::write`] treats a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A batch from the committer: size limit, log, unsynced redb commit.
    Serve,
    /// Log entries replayed at start-up: no limit, no log, durable commit.
    Replay,
}

/// Why a write failed.
#[derive(Debug)]
enum WriteFailure {
    /// redb failed (it then refuses everything until reopened).
    Db(redb::Error),
    /// The log could not be written or synced (a full disk).
    Wal(std::io::Error),
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteFailure::Db(e) => write!(f, "{e}"),
            WriteFailure::Wal(e) => write!(f, "write-ahead log: {e}"),
        }
    }
}

impl<E: Into<redb::Error>> From<E> for WriteFailure {
    fn from(e: E) -> WriteFailure {
        WriteFailure::Db(e.into())
    }
}

/// Free space a durable engine keeps on its file system: 5 % of it, at
/// least 256 KiB and at most 64 MiB. A put that would eat into it is
/// refused ([`Refused::NoSpace`]), so that redb itself never runs out of
/// space in the middle of a commit (after which it must be reopened and
/// the log replayed — which needs space too).
pub fn disk_reserve(total: u64) -> u64 {
    (total / 20).clamp(256 << 10, 64 << 20)
}

/// Bytes free for an unprivileged writer, and the size, of the file system
/// holding `dir`.
fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(dir).ok()?;
    let unit = s.fragment_size();
    Some((
        s.blocks_available().saturating_mul(unit),
        s.blocks().saturating_mul(unit),
    ))
}

/// After a write fails (a full disk), puts are refused at once for this
/// long before the disk is tried again, so that a full disk costs one
/// failed write and one reopen per interval, not one per put.
pub const IO_RETRY: Duration = Duration::from_secs(1);

fn err(context: impl std::fmt::Display, e: impl std::fmt::Display) -> EngineError {
    EngineError(format!("{context}: {e}"))
}

impl DurableEngine {
    /// Opens (creating if needed) the data directory of `options`. Errors
    /// are ready to print: a directory used by another server, a foreign or
    /// corrupt directory, an I/O error.
    pub fn open(options: &DurableOptions) -> Result<DurableEngine, EngineError> {
        let started = Instant::now();
        let dir = options.dir.clone();
        let shown = dir.display();
        create_dirs(&dir)
            .map_err(|e| err(format_args!("cannot create data directory {shown}"), e))?;
        // Read-only first: a foreign directory is refused before anything
        // (even the lock file) is created or changed in it.
        check_foreign(&dir)?;
        let mut lock = lock_dir(&dir)?;
        check_format(&dir)?;
        write_pid(&dir, &mut lock)?;
        let wal_path = dir.join(super::wal::WAL_FILE);
        if has_data_marker(&dir) && !wal_path.exists() {
            return Err(EngineError(format!(
                "{} is missing from data directory {}: refusing to start without the puts \
                 it may have held",
                super::wal::WAL_FILE,
                dir.display()
            )));
        }
        let db = open_db(&dir, options.cache)?;
        // The log is created (and its directory entry synced) before the
        // marker that makes a missing log an error is written by `init_db`.
        Wal::create_if_missing(&dir)
            .map_err(|e| err(format_args!("cannot create {}", wal_path.display()), e))?;
        let (keys, used) = init_db(&db, &dir)?;
        let (wal, entries, cut) = Wal::open(&dir)
            .map_err(|e| err(format_args!("cannot read {}", wal_path.display()), e))?;
        let engine = DurableEngine {
            report: OpenReport {
                keys,
                replayed: entries.len() as u64,
                took: Duration::ZERO,
            },
            dir,
            cache: options.cache,
            db: RwLock::new(Some(db)),
            _lock: lock,
            sync: options.sync,
            sync_interval: options.sync_interval,
            limit: options.max_disk,
            keys: AtomicU64::new(keys),
            used: AtomicU64::new(used),
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            wal: Mutex::new(wal),
            dirty: AtomicBool::new(false),
            checkpointed: Mutex::new(Instant::now()),
            pending_replay: AtomicBool::new(false),
            ready: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            warned_full: Mutex::new(None),
            failed_at: std::sync::Mutex::new(None),
            writer: Mutex::new(()),
            sweep_from: Mutex::new(Vec::new()),
        };
        if cut > 0 {
            tracing::warn!(
                bytes = cut,
                "cut a torn entry off the end of the write-ahead log"
            );
        }
        let mut engine = engine;
        if !entries.is_empty() {
            // On an error the engine is dropped without a checkpoint (not
            // `ready`): the log stays as it was, for the next start.
            engine.replay(&entries)?;
        }
        engine.ready.store(true, Ordering::Release);
        engine.report.keys = engine.keys.load(Ordering::Acquire);
        engine.report.took = started.elapsed();
        Ok(engine)
    }

    /// Applies log entries (after a crash) to the database durably, then
    /// empties the log.
    fn replay(&self, entries: &[Entry]) -> Result<(), EngineError> {
        let puts = entries
            .iter()
            .map(|(k, r)| {
                decode_record(r)
                    .map(|r| (k.clone(), r))
                    .map_err(|e| err("corrupt write-ahead log entry", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError("database unavailable".into()))?;
        for chunk in puts.chunks(10_000) {
            let (_, keys, used) = self
                .write(db, chunk, Mode::Replay)
                .map_err(|e| err("cannot replay the write-ahead log", e))?;
            self.keys.store(keys, Ordering::Release);
            self.used.store(used, Ordering::Release);
        }
        self.lock_wal()?
            .clear()
            .map_err(|e| err("cannot empty the write-ahead log", e))?;
        tracing::info!(entries = entries.len(), "write-ahead log replayed");
        Ok(())
    }

    /// Replays the log into a reopened database (see `pending_replay`);
    /// the number of entries replayed.
    fn replay_pending(&self) -> Result<usize, EngineError> {
        if !self.pending_replay.load(Ordering::Acquire) {
            return Ok(0);
        }
        let entries = self
            .lock_wal()?
            .entries()
            .map_err(|e| err("cannot read the write-ahead log", e))?;
        self.replay(&entries)?;
        self.pending_replay.store(false, Ordering::Release);
        Ok(entries.len())
    }

    fn lock_wal(&self) -> Result<std::sync::MutexGuard<'_, Wal>, EngineError> {
        self.wal
            .lock()
            .map_err(|_| EngineError("write-ahead log lock poisoned".into()))
    }

    /// Makes redb durable (an empty synced commit covers the unsynced ones)
    /// and empties the log.
    pub fn checkpoint(&self) -> Result<(), EngineError> {
        if self.pending_replay.load(Ordering::Acquire) {
            return Err(EngineError(
                "no checkpoint: the log is not replayed into the reopened database yet".into(),
            ));
        }
        // Lock order everywhere: database, then log.
        let guard = self.read_db()?;
        let mut wal = self.lock_wal()?;
        if wal.is_empty() {
            return Ok(());
        }
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError("database unavailable after an I/O error".into()))?;
        let run = || -> Result<(), redb::Error> {
            let txn = db.begin_write()?;
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| err("checkpoint failed", e))?;
        wal.clear()
            .map_err(|e| err("cannot empty the write-ahead log", e))?;
        self.dirty.store(false, Ordering::Release);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut at) = self.checkpointed.lock() {
            *at = Instant::now();
        }
        Ok(())
    }

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
            .map_err(|_| EngineError("database lock poisoned".into()))
    }

    /// One write transaction holding `puts`. Serving: puts over the limit
    /// are refused, the others appended to the log (and synced under
    /// `always`) before an unsynced redb commit. Replaying: a synced commit.
    fn write(
        &self,
        db: &redb::Database,
        puts: &[(Bytes, Record)],
        mode: Mode,
    ) -> Result<(PutResults, u64, u64), WriteFailure> {
        let mut txn = db.begin_write()?;
        let durability = match mode {
            Mode::Serve => Durability::None,
            Mode::Replay => Durability::Immediate,
        };
        txn.set_durability(durability)
            .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
        let limit = match mode {
            Mode::Serve => self.limit,
            Mode::Replay => u64::MAX,
        };
        let mut keys = self.keys.load(Ordering::Acquire);
        let mut used = self.used.load(Ordering::Acquire);
        let mut results = Vec::with_capacity(puts.len());
        // Room on the disk: each put costs its log entry and, redb being
        // copy-on-write, up to twice its size in pages until a checkpoint.
        let (mut room, reserve) = match (mode, disk_space(&self.dir)) {
            (Mode::Serve, Some((free, total))) => {
                let reserve = disk_reserve(total);
                (free.saturating_sub(reserve), reserve)
            }
            _ => (u64::MAX, 0),
        };
        let mut logged: Vec<(&[u8], Vec<u8>)> = Vec::with_capacity(puts.len());
        {
            let mut data = txn.open_table(DATA)?;
            for (key, record) in puts {
                let (old_size, old_version) = match data.get(&key[..])? {
                    Some(old) => (
                        Some(disk_pair_size(key, old.value().len())),
                        encoded_version(old.value()),
                    ),
                    None => (None, None),
                };
                // The version rule, inside the single writer's transaction.
                if let (false, Some(kept)) = (record.is_v1(), old_version)
                    && kept >= record.version
                {
                    results.push(if kept == record.version {
                        Ok(())
                    } else {
                        Err(Refused::Older { current: kept })
                    });
                    continue;
                }
                let encoded = encode_record(record);
                let new_size = disk_pair_size(key, encoded.len());
                let old = old_size.unwrap_or(0);
                let next = used.saturating_sub(old).saturating_add(new_size);
                if new_size > old && next > limit {
                    results.push(Err(Refused::Full { limit }));
                    continue;
                }
                let cost = 3 * new_size;
                if cost > room {
                    results.push(Err(Refused::NoSpace {
                        free: room.saturating_add(reserve),
                        reserve,
                    }));
                    continue;
                }
                room -= cost;
                data.insert(&key[..], &encoded[..])?;
                used = next;
                if old_size.is_none() {
                    keys += 1;
                }
                results.push(Ok(()));
                logged.push((&key[..], encoded));
            }
            let mut meta = txn.open_table(META)?;
            meta.insert(META_USED, used)?;
        }
        if logged.is_empty() {
            // Nothing stored: the transaction is dropped (aborted).
            return Ok((results, keys, used));
        }
        if mode == Mode::Replay {
            txn.commit()?;
            return Ok((results, keys, used));
        }
        let mut wal = self
            .wal
            .lock()
            .map_err(|_| WriteFailure::Wal(std::io::Error::other("log lock poisoned")))?;
        let before = wal.len();
        if let Err(e) = wal.append(logged.iter().map(|(k, r)| (*k, &r[..]))) {
            self.undo_log(&mut wal, before);
            return Err(WriteFailure::Wal(e));
        }
        if self.sync == SyncPolicy::Always {
            if let Err(e) = wal.sync() {
                self.undo_log(&mut wal, before);
                return Err(WriteFailure::Wal(e));
            }
            self.syncs.fetch_add(1, Ordering::Relaxed);
        } else {
            self.dirty.store(true, Ordering::Release);
        }
        if let Err(e) = txn.commit() {
            // Not applied: take it out of the log too (durably, or a crash
            // could replay a put that was refused).
            self.undo_log(&mut wal, before);
            return Err(e.into());
        }
        Ok((results, keys, used))
    }

    /// Takes a refused batch back out of the log, durably (or a replay
    /// could apply a put that was refused). When that fails the engine
    /// enters its failed state (`broken`): every later put is refused.
    fn undo_log(&self, wal: &mut Wal, before: u64) {
        if let Err(e) = wal.truncate(before).and_then(|()| wal.sync()) {
            self.broken.store(true, Ordering::Release);
            tracing::error!(
                error = %e,
                dir = %self.dir.display(),
                "cannot take a refused batch back out of the write-ahead log; \
                 every put is refused until the server is restarted"
            );
        }
    }

    /// After an I/O error redb refuses every later operation: drop the
    /// database and open it again (redb repairs it to the last commit).
    fn reopen(&self) {
        let Ok(mut slot) = self.db.write() else {
            return;
        };
        drop(slot.take());
        match open_db(&self.dir, self.cache).and_then(|db| init_db(&db, &self.dir).map(|c| (db, c)))
        {
            Ok((db, (keys, used))) => {
                self.keys.store(keys, Ordering::Release);
                self.used.store(used, Ordering::Release);
                *slot = Some(db);
                drop(slot);
                // The database is back at its last checkpoint: the log has
                // everything acknowledged since.
                self.pending_replay.store(true, Ordering::Release);
                match self.replay_pending() {
                    Ok(n) => {
                        tracing::warn!(dir = %self.dir.display(), replayed = n, "database reopened after an I/O error")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "database reopened, but the log could not be replayed")
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot reopen the database; retrying at the next put")
            }
        }
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

/// Locks `dir/LOCK` for this process and writes our pid into it.
fn lock_dir(dir: &Path) -> Result<File, EngineError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| err(format_args!("cannot open {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (pid {holder})")
            };
            return Err(EngineError(format!(
                "data directory {} is in use by another server{who}; one server per directory",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(err(format_args!("cannot lock {}", path.display()), e));
        }
    }
    Ok(file)
}

/// Writes our pid into the locked `LOCK` file (once the directory is known
/// to be dkvs's), so that a second server can name the holder.
fn write_pid(dir: &Path, file: &mut File) -> Result<(), EngineError> {
    let pid = std::process::id().to_string();
    let written = file
        .set_len(0)
        .and_then(|()| file.write_all(pid.as_bytes()));
    written.map_err(|e| {
        err(
            format_args!("cannot write {}", dir.join(LOCK_FILE).display()),
            e,
        )
    })
}

/// Creates `dir` and its missing parents, fsyncing the parent of each
/// directory created so that the new directory entries are durable.
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    std::fs::create_dir_all(dir)?;
    for created in missing {
        let parent = match created.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// The refusal of a foreign directory, without creating or changing
/// anything in it: `Ok` when `dir` holds dkvs's `FORMAT`, or no `FORMAT`
/// and nothing but (at most) a `LOCK` file dkvs could have left (empty or
/// a pid) — a directory that crashed between locking and writing `FORMAT`.
fn check_foreign(dir: &Path) -> Result<(), EngineError> {
    let path = dir.join(FORMAT_FILE);
    match std::fs::read(&path) {
        Ok(text) if text == FORMAT_TEXT.as_bytes() => Ok(()),
        Ok(text) => Err(EngineError(format!(
            "{} is not a data directory of this dkvs version: its FORMAT file says {:?}, expected {:?}",
            dir.display(),
            String::from_utf8_lossy(text.get(..200).unwrap_or(&text)),
            FORMAT_TEXT
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| err(format_args!("cannot read {}", dir.display()), e))?;
            let ours = |name: &str| {
                name == LOCK_FILE
                    && std::fs::read(dir.join(LOCK_FILE))
                        .is_ok_and(|b| b.len() <= 20 && b.iter().all(u8::is_ascii_digit))
            };
            let mut foreign: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| !ours(name))
                .collect();
            if foreign.is_empty() {
                return Ok(());
            }
            foreign.sort();
            foreign.truncate(5);
            Err(EngineError(format!(
                "{} is not a dkvs data directory (no {FORMAT_FILE} file, but it holds {}); \
                 give an empty or new directory",
                dir.display(),
                foreign.join(", ")
            )))
        }
        Err(e) => Err(err(format_args!("cannot read {}", path.display()), e)),
    }
}

/// Checks again, under the lock, that the directory is dkvs's or empty
/// (see [`check_foreign`]), and writes the `FORMAT` file in an empty one.
fn check_format(dir: &Path) -> Result<(), EngineError> {
    check_foreign(dir)?;
    if dir.join(FORMAT_FILE).exists() {
        return Ok(());
    }
    write_synced(dir, FORMAT_FILE, FORMAT_TEXT.as_bytes())
}

/// Writes `dir/name` durably (temporary file, fsync, rename, fsync of the
/// directory).
fn write_synced(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), EngineError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| err(format_args!("cannot write {}", path.display()), e))
}

/// Opens (or creates) the redb file of `dir`, turning any failure — even a
/// panic inside redb on a damaged file — into an error.
fn open_db(dir: &Path, cache: u64) -> Result<redb::Database, EngineError> {
    let path = dir.join(DB_FILE);
    let exists = path.exists();
    if !exists && has_data_marker(dir) {
        return Err(EngineError(format!(
            "{} is missing from data directory {}: refusing to start empty on a directory \
             that held data",
            DB_FILE,
            dir.display()
        )));
    }
    let cache = usize::try_from(cache).unwrap_or(usize::MAX);
    let opened = std::panic::catch_unwind(AssertUnwindSafe(|| {
        redb::Database::builder()
            .set_cache_size(cache)
            .create(&path)
    }));
    match opened {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(EngineError(format!(
            "{} is already open in another server",
            path.display()
        ))),
        Ok(Err(e)) => Err(EngineError(format!(
            "{} is corrupt or not a dkvs database: {e}",
            path.display()
        ))),
        Err(_) => Err(EngineError(format!(
            "{} is corrupt: the database library failed while opening it",
            path.display()
        ))),
    }
}

/// True once the directory has held a database (its `FORMAT` file exists
/// and a database was created: see [`init_db`]'s marker).
fn has_data_marker(dir: &Path) -> bool {
    dir.join(FORMAT_FILE).exists() && dir.join(CREATED_FILE).exists()
}

/// Checks the database's own format mark (writing it in a new database)
/// and reads its counters: (keys, accounted bytes).
fn init_db(db: &redb::Database, dir: &Path) -> Result<(u64, u64), EngineError> {
    let corrupt = |e: &dyn std::fmt::Display| {
        EngineError(format!(
            "{} is corrupt or not a dkvs database: {e}",
            dir.join(DB_FILE).display()
        ))
    };
    let run = || -> Result<Result<(u64, u64), String>, redb::Error> {
        let txn = db.begin_write()?;
        let counters = {
            let data = txn.open_table(DATA)?;
            let mut meta = txn.open_table(META)?;
            let format = meta.get(META_FORMAT)?.map(|g| g.value());
            let keys = data.len()?;
            match format {
                Some(DB_FORMAT) => {}
                Some(other) => return Ok(Err(format!("unknown database format {other}"))),
                None if keys == 0 => {
                    meta.insert(META_FORMAT, DB_FORMAT)?;
                    meta.insert(META_USED, 0)?;
                }
                None => return Ok(Err("data without a format mark".into())),
            }
            let used = meta.get(META_USED)?.map_or(0, |g| g.value());
            (keys, used)
        };
        txn.commit()?;
        Ok(Ok(counters))
    };
    let counters = std::panic::catch_unwind(AssertUnwindSafe(run))
        .map_err(|_| corrupt(&"the database library failed while reading it"))?
        .map_err(|e| corrupt(&e))?
        .map_err(|e| corrupt(&e))?;
    if !dir.join(CREATED_FILE).exists() {
        write_synced(dir, CREATED_FILE, b"")?;
    }
    Ok(counters)
}

impl Engine for DurableEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, EngineError> {
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError("database unavailable after an I/O error".into()))?;
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = db.begin_read()?;
            let data = txn.open_table(DATA)?;
            Ok(data.get(key)?.map(|v| v.value().to_vec()))
        };
        match read().map_err(|e| err("read failed", e))? {
            Some(bytes) => decode_record(&bytes)
                .map(Some)
                .map_err(|e| err("corrupt record", e)),
            None => Ok(None),
        }
    }

    fn put_batch(&self, puts: &[(Bytes, Record)]) -> PutResults {
        if puts.is_empty() {
            return Vec::new();
        }
        let Ok(_writer) = self.writer.lock() else {
            return vec![Err(Refused::Io("writer lock poisoned".into())); puts.len()];
        };
        if self.broken.load(Ordering::Acquire) {
            let why = "the write-ahead log could not be undone after a failed write; \
                       restart the server";
            return vec![Err(Refused::Io(why.into())); puts.len()];
        }
        if let Ok(failed) = self.failed_at.lock()
            && failed.is_some_and(|at| at.elapsed() < IO_RETRY)
        {
            let why = "the last write failed (disk full?); retrying within a second";
            return vec![Err(Refused::Io(why.into())); puts.len()];
        }
        if let Err(e) = self.replay_pending() {
            tracing::error!(error = %e, "the log is still not replayed; puts refused");
            if let Ok(mut failed) = self.failed_at.lock() {
                *failed = Some(Instant::now());
            }
            return vec![Err(Refused::Io(e.0)); puts.len()];
        }
        let outcome = match self.read_db() {
            Ok(guard) => match guard.as_ref() {
                Some(db) => self.write(db, puts, Mode::Serve),
                None => Err(WriteFailure::Db(redb::Error::Corrupted(
                    "database unavailable after an I/O error".into(),
                ))),
            },
            Err(e) => Err(WriteFailure::Db(redb::Error::Corrupted(e.0))),
        };
        match outcome {
            Ok((results, keys, used)) => {
                self.keys.store(keys, Ordering::Release);
                self.used.store(used, Ordering::Release);
                self.commits.fetch_add(1, Ordering::Relaxed);
                if let Some(Err(e)) = results
                    .iter()
                    .find(|r| matches!(r, Err(Refused::NoSpace { .. })))
                    && let Ok(mut warned) = self.warned_full.lock()
                    && warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
                {
                    *warned = Some(Instant::now());
                    tracing::warn!(dir = %self.dir.display(), "puts refused: {e}");
                }
                let full = self.lock_wal().map(|w| w.len() >= CHECKPOINT_BYTES);
                if full.unwrap_or(false)
                    && let Err(e) = self.checkpoint()
                {
                    tracing::error!(error = %e, "checkpoint failed");
                    self.reopen();
                }
                results
            }
            Err(e) => {
                tracing::error!(error = %e, puts = puts.len(), "write failed; puts refused");
                if let Ok(mut failed) = self.failed_at.lock() {
                    *failed = Some(Instant::now());
                }
                if matches!(e, WriteFailure::Db(_)) {
                    self.reopen();
                }
                vec![Err(Refused::Io(e.to_string())); puts.len()]
            }
        }
    }

    fn snapshot(&self) -> Result<Pairs, EngineError> {
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError("database unavailable after an I/O error".into()))?;
        type Raw = Vec<(Box<[u8]>, Vec<u8>)>;
        let read = || -> Result<Raw, redb::Error> {
            let txn = db.begin_read()?;
            let data = txn.open_table(DATA)?;
            let mut pairs = Vec::with_capacity(usize::try_from(data.len()?).unwrap_or(0));
            for entry in data.iter()? {
                let (k, v) = entry?;
                pairs.push((Box::from(k.value()), v.value().to_vec()));
            }
            Ok(pairs)
        };
        read()
            .map_err(|e| err("dump failed", e))?
            .into_iter()
            .map(|(k, v)| {
                decode_record(&v)
                    .map(|r| (k, r))
                    .map_err(|e| err("corrupt record", e))
            })
            .collect()
    }

    fn page(&self, cursor: &[u8], max: usize) -> Result<(Pairs, bool), EngineError> {
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError("database unavailable after an I/O error".into()))?;
        type Raw = Vec<(Box<[u8]>, Vec<u8>)>;
        let read = || -> Result<(Raw, bool), redb::Error> {
            let txn = db.begin_read()?;
            let data = txn.open_table(DATA)?;
            let range = (
                std::ops::Bound::Excluded(cursor),
                std::ops::Bound::Unbounded,
            );
            let range = if cursor.is_empty() {
                data.range::<&[u8]>(..)?
            } else {
                data.range::<&[u8]>(range)?
            };
            let mut pairs = Vec::new();
            // Bytes read after the first record: once they exceed a
            // datagram, no page can hold them all, so reading stops (the
            // page still ends with records left over: `more` stays right).
            let mut bytes = 0usize;
            for entry in range {
                if pairs.len() == max || bytes > crate::protocol::MAX_DATAGRAM {
                    return Ok((pairs, true));
                }
                let (k, v) = entry?;
                if !pairs.is_empty() {
                    bytes += k.value().len() + v.value().len();
                }
                pairs.push((Box::from(k.value()), v.value().to_vec()));
            }
            Ok((pairs, false))
        };
        let (raw, more) = read().map_err(|e| err("dump failed", e))?;
        let pairs = raw
            .into_iter()
            .map(|(k, v)| {
                decode_record(&v)
                    .map(|r| (k, r))
                    .map_err(|e| err("corrupt record", e))
            })
            .collect::<Result<Pairs, _>>()?;
        Ok((pairs, more))
    }

    /// Not logged, like a purge: a removal lost in a crash brings the key
    /// back, and the next rebalance pass removes it again.
    fn remove_if_unchanged(&self, key: &[u8], record: &Record) -> Result<bool, EngineError> {
        let expected = super::encode_record(record);
        let _writer = self
            .writer
            .lock()
            .map_err(|_| EngineError("writer lock poisoned".into()))?;
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError("database unavailable after an I/O error".into()))?;
        let run = || -> Result<Option<u64>, redb::Error> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::None)
                .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            let size = {
                let mut data = txn.open_table(DATA)?;
                let size = match data.get(key)? {
                    Some(v) if v.value() == &expected[..] => {
                        Some(disk_pair_size(key, v.value().len()))
                    }
                    _ => None,
                };
                if size.is_some() {
                    data.remove(key)?;
                }
                size
            };
            let Some(size) = size else {
                drop(txn);
                return Ok(None);
            };
            let used = self.used.load(Ordering::Acquire).saturating_sub(size);
            {
                let mut meta = txn.open_table(META)?;
                meta.insert(META_USED, used)?;
            }
            txn.commit()?;
            Ok(Some(used))
        };
        match run().map_err(|e| err("removal failed", e))? {
            Some(used) => {
                self.used.store(used, Ordering::Release);
                self.keys.fetch_sub(1, Ordering::AcqRel);
                Ok(true)
            }
            None => Ok(false),
        }
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
        let _writer = self
            .writer
            .lock()
            .map_err(|_| EngineError("writer lock poisoned".into()))?;
        let mut from = self
            .sweep_from
            .lock()
            .map_err(|_| EngineError("sweep lock poisoned".into()))?;
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError("database unavailable after an I/O error".into()))?;
        let mut keys = self.keys.load(Ordering::Acquire);
        let mut used = self.used.load(Ordering::Acquire);
        let mut run = || -> Result<(usize, Vec<u8>), redb::Error> {
            let mut txn = db.begin_write()?;
            txn.set_durability(Durability::None)
                .map_err(|e| redb::Error::Corrupted(e.to_string()))?;
            let mut expired: Vec<(Vec<u8>, u64)> = Vec::new();
            let mut last = Vec::new();
            {
                let data = txn.open_table(DATA)?;
                let range = (
                    std::ops::Bound::Excluded(&from[..]),
                    std::ops::Bound::Unbounded,
                );
                for entry in data.range::<&[u8]>(range)?.take(SWEEP_STEP) {
                    let (k, v) = entry?;
                    last = k.value().to_vec();
                    let tomb = v.value().get(1).is_some_and(|f| f & FLAG_TOMBSTONE != 0);
                    let old = encoded_version(v.value()).is_some_and(|version| {
                        let value = v.value().get(super::RECORD_HEADER..).unwrap_or_default();
                        super::tombstone_expired(value, version, now_ms, grace_ms)
                    });
                    if tomb && old && expired.len() < max {
                        let size = disk_pair_size(k.value(), v.value().len());
                        expired.push((k.value().to_vec(), size));
                    }
                }
            }
            if expired.is_empty() {
                drop(txn);
                return Ok((0, last));
            }
            {
                let mut data = txn.open_table(DATA)?;
                for (k, size) in &expired {
                    data.remove(&k[..])?;
                    keys = keys.saturating_sub(1);
                    used = used.saturating_sub(*size);
                }
                let mut meta = txn.open_table(META)?;
                meta.insert(META_USED, used)?;
            }
            txn.commit()?;
            Ok((expired.len(), last))
        };
        let (removed, last) = run().map_err(|e| err("tombstone purge failed", e))?;
        // An empty step reached the end: the next one starts over.
        *from = last;
        self.keys.store(keys, Ordering::Release);
        self.used.store(used, Ordering::Release);
        Ok(removed)
    }

    /// Syncs the log under `periodic` (what was appended since the last
    /// sync), and checkpoints when one is due.
    fn sync(&self) -> Result<(), EngineError> {
        self.replay_pending()?;
        if self.dirty.swap(false, Ordering::AcqRel) {
            let synced = self.lock_wal()?.sync();
            if let Err(e) = synced {
                self.dirty.store(true, Ordering::Release);
                return Err(err("cannot sync the write-ahead log", e));
            }
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        let due = self
            .checkpointed
            .lock()
            .map(|at| at.elapsed() >= CHECKPOINT_EVERY)
            .unwrap_or(true);
        if due {
            self.checkpoint()?;
            if let Ok(mut at) = self.checkpointed.lock() {
                *at = Instant::now();
            }
        }
        Ok(())
    }

    fn stats(&self) -> EngineStats {
        EngineStats {
            keys: self.keys.load(Ordering::Acquire),
            used_bytes: self.used.load(Ordering::Acquire),
            limit: self.limit,
            commits: self.commits.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
        }
    }

    fn needs_committer(&self) -> bool {
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::engine::suite::{self, put, value};
    use crate::version::Version;

    fn fresh(limit: u64) -> (DurableEngine, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut o = DurableOptions::new(dir.path().join("data"));
        o.max_disk = limit;
        (DurableEngine::open(&o).unwrap(), dir)
    }

    suite::engine_suite!(fresh);

    fn open(dir: &Path) -> Result<DurableEngine, EngineError> {
        DurableEngine::open(&DurableOptions::new(dir))
    }

    #[test]
    fn reopen_keeps_records_versions_and_counters() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("d");
        let versioned = Record {
            version: Version {
                timestamp: 77,
                writer: 3,
            },
            tombstone: true,
            value: Bytes::new(),
        };
        let used = {
            let e = open(&dir).unwrap();
            e.put_batch(&[put(b"a", b"1"), put(b"b", b"2")]);
            e.put_batch(&[(Bytes::from_static(b"t"), versioned.clone())]);
            e.stats().used_bytes
        };
        let e = open(&dir).unwrap();
        assert_eq!(e.open_report().keys, 3);
        assert_eq!(e.stats().used_bytes, used);
        assert_eq!(value(&e, b"a").unwrap(), b"1");
        assert_eq!(e.get(b"t").unwrap().unwrap(), versioned);
    }

    #[test]
    fn periodic_commits_reach_disk_on_sync() {
        let tmp = tempfile::tempdir().unwrap();
        let mut o = DurableOptions::new(tmp.path());
        o.sync = SyncPolicy::Periodic;
        let e = DurableEngine::open(&o).unwrap();
        e.put_batch(&[put(b"a", b"1")]);
        assert_eq!(e.stats().syncs, 0);
        e.sync().unwrap();
        e.sync().unwrap();
        assert_eq!(e.stats().syncs, 1, "a sync with nothing new does nothing");
        assert_eq!(e.sync_every(), Some(Duration::from_secs(1)));
    }

    #[test]
    fn second_open_is_refused_by_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let _first = open(tmp.path()).unwrap();
        let e = open(tmp.path()).unwrap_err();
        assert!(e.0.contains("in use by another server"), "{e}");
        assert!(e.0.contains(&std::process::id().to_string()), "{e}");
    }

    #[test]
    fn foreign_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
        let e = open(tmp.path()).unwrap_err();
        assert!(e.0.contains("not a dkvs data directory"), "{e}");
        assert!(e.0.contains("notes.txt"), "{e}");
        assert_eq!(
            std::fs::read(tmp.path().join("notes.txt")).unwrap(),
            b"mine"
        );
        std::fs::write(tmp.path().join(FORMAT_FILE), "something else").unwrap();
        let e = open(tmp.path()).unwrap_err();
        assert!(e.0.contains("FORMAT file says"), "{e}");
    }

    #[test]
    fn corrupt_or_missing_database_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let e = open(tmp.path()).unwrap();
            e.put_batch(&[put(b"a", b"1")]);
        }
        let db = tmp.path().join(DB_FILE);
        let mut bytes = std::fs::read(&db).unwrap();
        for b in bytes.iter_mut().take(4096) {
            *b ^= 0x5A;
        }
        std::fs::write(&db, &bytes).unwrap();
        let e = open(tmp.path()).unwrap_err();
        assert!(e.0.contains("corrupt"), "{e}");
        std::fs::remove_file(&db).unwrap();
        let e = open(tmp.path()).unwrap_err();
        assert!(e.0.contains("missing"), "{e}");
    }

    #[test]
    fn a_failed_replay_leaves_the_log_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let e = open(tmp.path()).unwrap();
            e.put_batch(&[put(b"a", b"1")]);
        }
        // A log entry with a valid CRC but an unknown record format.
        {
            let (mut wal, _, _) = Wal::open(tmp.path()).unwrap();
            wal.append([(&b"b"[..], &b"\x02bad"[..])].into_iter())
                .unwrap();
            wal.sync().unwrap();
        }
        let path = tmp.path().join(super::super::wal::WAL_FILE);
        let before = std::fs::read(&path).unwrap();
        assert!(!before.is_empty());
        for _ in 0..2 {
            let e = open(tmp.path()).unwrap_err();
            assert!(e.0.contains("corrupt write-ahead log entry"), "{e}");
            assert_eq!(std::fs::read(&path).unwrap(), before, "log unchanged");
        }
    }

    #[test]
    fn a_missing_log_is_refused_once_the_directory_held_data() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let e = open(tmp.path()).unwrap();
            e.put_batch(&[put(b"a", b"1")]);
        }
        let path = tmp.path().join(super::super::wal::WAL_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "clean stop");
        std::fs::remove_file(&path).unwrap();
        let e = open(tmp.path()).unwrap_err();
        assert!(e.0.contains("dkvs.wal is missing"), "{e}");
        assert!(!path.exists(), "not silently recreated");
    }

    #[test]
    fn a_foreign_directory_is_not_modified() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("CURRENT"), "MANIFEST-000001\n").unwrap();
        std::fs::write(tmp.path().join(LOCK_FILE), "leveldb lock").unwrap();
        let e = open(tmp.path()).unwrap_err();
        assert!(e.0.contains("not a dkvs data directory"), "{e}");
        let mut names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["CURRENT", "LOCK"]);
        assert_eq!(
            std::fs::read(tmp.path().join(LOCK_FILE)).unwrap(),
            b"leveldb lock"
        );
    }

    #[test]
    fn missing_parents_are_created() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a").join("b").join("c");
        let e = open(&dir).unwrap();
        e.put_batch(&[put(b"k", b"v")]);
        assert!(dir.join(FORMAT_FILE).exists() && dir.join(super::super::wal::WAL_FILE).exists());
    }

    #[test]
    fn a_failed_undo_of_the_log_refuses_every_put_until_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let e = open(tmp.path()).unwrap();
        assert!(e.put_batch(&[put(b"a", b"1")])[0].is_ok());
        {
            let mut wal = e.lock_wal().unwrap();
            let before = wal.len();
            wal.fail_truncate = true;
            e.undo_log(&mut wal, before);
        }
        let refused = e.put_batch(&[put(b"b", b"2"), put(b"c", b"3")]);
        assert!(
            refused.iter().all(|r| matches!(r, Err(Refused::Io(_)))),
            "{refused:?}"
        );
        assert_eq!(value(&e, b"a").unwrap(), b"1", "reads still work");
        assert!(e.get(b"b").unwrap().is_none());
        drop(e);
        // A restart replays the log and serves again.
        let e = open(tmp.path()).unwrap();
        assert_eq!(value(&e, b"a").unwrap(), b"1");
        assert!(e.put_batch(&[put(b"b", b"2")])[0].is_ok());
    }
}
