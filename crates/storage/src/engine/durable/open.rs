//! Opening a data directory: the database opened (or created) and checked,
//! the write-ahead log replayed onto it, and the reopen after an I/O error.

use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::{ReadableTable, ReadableTableMetadata};

use super::super::wal::{self, Entry, Wal};
use super::super::{EngineError, decode_record};
use super::dir::{
    check_foreign, check_format, create_dirs, has_data_marker, lock_dir, write_pid, write_synced,
};
use super::write::Mode;
use super::{
    CREATED_FILE, DATA, DB_FILE, DB_FORMAT, DurableEngine, DurableOptions, META, META_FORMAT,
    META_USED, OpenReport,
};

impl DurableEngine {
    /// Opens (creating if needed) the data directory of `options`. Errors
    /// are ready to print: a directory used by another server, a foreign or
    /// corrupt directory, an I/O error.
    pub fn open(options: &DurableOptions) -> Result<DurableEngine, EngineError> {
        let started = Instant::now();
        let dir = options.dir.clone();
        let shown = dir.display();
        create_dirs(&dir).map_err(|e| {
            EngineError::io(format_args!("cannot create data directory {shown}"), e)
        })?;
        // Read-only first: a foreign directory is refused before anything
        // (even the lock file) is created or changed in it.
        check_foreign(&dir)?;
        let mut lock = lock_dir(&dir)?;
        check_format(&dir)?;
        write_pid(&dir, &mut lock)?;
        let wal_path = dir.join(wal::WAL_FILE);
        if has_data_marker(&dir) && !wal_path.exists() {
            return Err(EngineError::Other(format!(
                "{} is missing from data directory {}: refusing to start without the puts \
                 it may have held",
                wal::WAL_FILE,
                dir.display()
            )));
        }
        let db = open_db(&dir, options.cache)?;
        // The log is created (and its directory entry synced) before the
        // marker that makes a missing log an error is written by `init_db`.
        Wal::create_if_missing(&dir).map_err(|e| {
            EngineError::io(format_args!("cannot create {}", wal_path.display()), e)
        })?;
        let (keys, used) = init_db(&db, &dir)?;
        let (wal, entries, cut) = Wal::open(&dir)
            .map_err(|e| EngineError::io(format_args!("cannot read {}", wal_path.display()), e))?;
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
                    .map_err(|e| EngineError::corrupt("corrupt write-ahead log entry", e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let guard = self.read_db()?;
        let db = guard
            .as_ref()
            .ok_or_else(|| EngineError::other("database unavailable"))?;
        for chunk in puts.chunks(10_000) {
            let (_, keys, used) = self
                .write(db, chunk, Mode::Replay)
                .map_err(|e| e.into_engine_error("cannot replay the write-ahead log"))?;
            self.keys.store(keys, Ordering::Release);
            self.used.store(used, Ordering::Release);
        }
        self.lock_wal()?
            .clear()
            .map_err(|e| EngineError::io("cannot empty the write-ahead log", e))?;
        tracing::info!(entries = entries.len(), "write-ahead log replayed");
        Ok(())
    }

    /// Replays the log into a reopened database (see `pending_replay`);
    /// the number of entries replayed.
    pub(super) fn replay_pending(&self) -> Result<usize, EngineError> {
        if !self.pending_replay.load(Ordering::Acquire) {
            return Ok(0);
        }
        let entries = self
            .lock_wal()?
            .entries()
            .map_err(|e| EngineError::io("cannot read the write-ahead log", e))?;
        self.replay(&entries)?;
        self.pending_replay.store(false, Ordering::Release);
        Ok(entries.len())
    }

    /// After an I/O error redb refuses every later operation: drop the
    /// database and open it again (redb repairs it to the last commit).
    pub(super) fn reopen(&self) {
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

/// Opens (or creates) the redb file of `dir`, turning any failure — even a
/// panic inside redb on a damaged file — into an error.
fn open_db(dir: &Path, cache: u64) -> Result<redb::Database, EngineError> {
    let path = dir.join(DB_FILE);
    let exists = path.exists();
    if !exists && has_data_marker(dir) {
        return Err(EngineError::Other(format!(
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
        Ok(Err(redb::DatabaseError::DatabaseAlreadyOpen)) => Err(EngineError::Other(format!(
            "{} is already open in another server",
            path.display()
        ))),
        Ok(Err(e)) => Err(EngineError::db(
            format_args!("{} is corrupt or not a dkvs database", path.display()),
            e,
        )),
        Err(_) => Err(EngineError::Other(format!(
            "{} is corrupt: the database library failed while opening it",
            path.display()
        ))),
    }
}

/// Checks the database's own format mark (writing it in a new database)
/// and reads its counters: (keys, accounted bytes).
fn init_db(db: &redb::Database, dir: &Path) -> Result<(u64, u64), EngineError> {
    let shown = dir.join(DB_FILE);
    let context = || format!("{} is corrupt or not a dkvs database", shown.display());
    let corrupt = |why: &str| EngineError::Other(format!("{}: {why}", context()));
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
        .map_err(|_| corrupt("the database library failed while reading it"))?
        .map_err(|e| EngineError::db(context(), e))?
        .map_err(|why| corrupt(&why))?;
    if !dir.join(CREATED_FILE).exists() {
        write_synced(dir, CREATED_FILE, b"")?;
    }
    Ok(counters)
}
