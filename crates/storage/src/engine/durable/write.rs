//! Batches of puts: the version rule and the size checks inside the single
//! writer's transaction, the write-ahead log, and a failed write's undo.

use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use redb::{Durability, ReadableTable};

use super::super::wal::Wal;
use super::super::{
    EngineError, PutResults, Record, Refused, SyncPolicy, Version, encode_record, encoded_version,
};
use super::space::Room;
use super::{CHECKPOINT_BYTES, DATA, DurableEngine, IO_RETRY, META, META_USED, disk_pair_size};

/// Records stored by a batch, encoded, for the log: (key, record).
type Logged<'p> = Vec<(&'p [u8], Vec<u8>)>;

/// The data table inside a write transaction.
type DataTable<'txn> = redb::Table<'txn, &'static [u8], &'static [u8]>;

/// How [`DurableEngine::write`] treats a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// A batch from the committer: size limit, log, unsynced redb commit.
    Serve,
    /// Log entries replayed at start-up: no limit, no log, durable commit.
    Replay,
}

/// Why a write failed.
#[derive(Debug)]
pub(super) enum WriteFailure {
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

impl WriteFailure {
    /// The [`EngineError`] of this failure while doing `context`, with the
    /// same text as `{context}: {self}` and the failure's error as source.
    pub(super) fn into_engine_error(self, context: &str) -> EngineError {
        match self {
            WriteFailure::Db(source) => EngineError::db(context, source),
            WriteFailure::Wal(source) => {
                EngineError::io(format_args!("{context}: write-ahead log"), source)
            }
        }
    }
}

impl<E: Into<redb::Error>> From<E> for WriteFailure {
    fn from(e: E) -> WriteFailure {
        WriteFailure::Db(e.into())
    }
}

/// The version rule of [`super::super::Engine::put_batch`]: the result of a
/// put of `record` that is not stored because the key keeps `kept`, as new
/// (a retransmission: `Ok`) or newer ([`Refused::Older`]); `None` when the
/// put is to be stored (a v1 put always is).
pub(crate) fn kept_instead(record: &Record, kept: Option<Version>) -> Option<Result<(), Refused>> {
    match kept {
        Some(kept) if !record.is_v1() && kept >= record.version => {
            Some(if kept == record.version {
                Ok(())
            } else {
                Err(Refused::Older { current: kept })
            })
        }
        _ => None,
    }
}

/// Inserts each put of `puts` that the version rule and `room` admit into
/// `data`, updating `keys` and `used`: the result of each put and the
/// encoded records stored (for the log).
fn stage<'p>(
    data: &mut DataTable<'_>,
    puts: &'p [(Bytes, Record)],
    room: &mut Room,
    keys: &mut u64,
    used: &mut u64,
) -> Result<(PutResults, Logged<'p>), redb::Error> {
    let mut results = Vec::with_capacity(puts.len());
    let mut logged: Logged<'p> = Vec::with_capacity(puts.len());
    for (key, record) in puts {
        let (old_size, old_version) = match data.get(&key[..])? {
            Some(old) => (
                Some(disk_pair_size(key, old.value().len())),
                encoded_version(old.value()),
            ),
            None => (None, None),
        };
        if let Some(result) = kept_instead(record, old_version) {
            results.push(result);
            continue;
        }
        let encoded = encode_record(record);
        let new_size = disk_pair_size(key, encoded.len());
        match room.admit(*used, old_size.unwrap_or(0), new_size) {
            Ok(next) => {
                data.insert(&key[..], &encoded[..])?;
                *used = next;
                if old_size.is_none() {
                    *keys += 1;
                }
                results.push(Ok(()));
                logged.push((&key[..], encoded));
            }
            Err(refused) => results.push(Err(refused)),
        }
    }
    Ok((results, logged))
}

impl DurableEngine {
    /// [`super::super::Engine::put_batch`]: one write transaction, unless
    /// the engine is refusing puts (a broken log, a recent I/O error, a log
    /// not yet replayed).
    pub(super) fn put_records(&self, puts: &[(Bytes, Record)]) -> PutResults {
        if puts.is_empty() {
            return Vec::new();
        }
        let Ok(_writer) = self.writer.lock() else {
            return vec![Err(Refused::Io("writer lock poisoned".into())); puts.len()];
        };
        if let Some(why) = self.refusing() {
            return vec![Err(Refused::Io(why)); puts.len()];
        }
        let outcome = match self.read_db() {
            Ok(guard) => match guard.as_ref() {
                Some(db) => self.write(db, puts, Mode::Serve),
                None => Err(WriteFailure::Db(redb::Error::Corrupted(
                    "database unavailable after an I/O error".into(),
                ))),
            },
            Err(e) => Err(WriteFailure::Db(redb::Error::Corrupted(e.to_string()))),
        };
        match outcome {
            Ok((results, keys, used)) => {
                self.keys.store(keys, Ordering::Release);
                self.used.store(used, Ordering::Release);
                self.commits.fetch_add(1, Ordering::Relaxed);
                self.warn_no_space(&results);
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

    /// Why every put is refused now, if it is: the log could not be undone,
    /// the last write failed less than [`IO_RETRY`] ago, or the log cannot
    /// be replayed into a reopened database.
    fn refusing(&self) -> Option<String> {
        if self.broken.load(Ordering::Acquire) {
            let why = "the write-ahead log could not be undone after a failed write; \
                       restart the server";
            return Some(why.into());
        }
        if let Ok(failed) = self.failed_at.lock()
            && failed.is_some_and(|at| at.elapsed() < IO_RETRY)
        {
            let why = "the last write failed (disk full?); retrying within a second";
            return Some(why.into());
        }
        if let Err(e) = self.replay_pending() {
            tracing::error!(error = %e, "the log is still not replayed; puts refused");
            if let Ok(mut failed) = self.failed_at.lock() {
                *failed = Some(Instant::now());
            }
            return Some(e.to_string());
        }
        None
    }

    /// One write transaction holding `puts`. Serving: puts over the limit
    /// are refused, the others appended to the log (and synced under
    /// `always`) before an unsynced redb commit. Replaying: a synced commit.
    pub(super) fn write(
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
        let mut keys = self.keys.load(Ordering::Acquire);
        let mut used = self.used.load(Ordering::Acquire);
        let mut room = match mode {
            Mode::Serve => Room::serving(&self.dir, self.limit),
            Mode::Replay => Room::unlimited(),
        };
        let (results, logged) = {
            let mut data = txn.open_table(DATA)?;
            let staged = stage(&mut data, puts, &mut room, &mut keys, &mut used)?;
            let mut meta = txn.open_table(META)?;
            meta.insert(META_USED, used)?;
            staged
        };
        if logged.is_empty() {
            // Nothing stored: the transaction is dropped (aborted).
            return Ok((results, keys, used));
        }
        if mode == Mode::Replay {
            txn.commit()?;
            return Ok((results, keys, used));
        }
        self.log_then_commit(txn, &logged)?;
        Ok((results, keys, used))
    }

    /// Appends the stored records `logged` to the log (synced under
    /// `always`), then commits `txn` without a sync; a failure takes them
    /// back out of the log.
    fn log_then_commit(
        &self,
        txn: redb::WriteTransaction,
        logged: &[(&[u8], Vec<u8>)],
    ) -> Result<(), WriteFailure> {
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
        Ok(())
    }

    /// Takes a refused batch back out of the log, durably (or a replay
    /// could apply a put that was refused). When that fails the engine
    /// enters its failed state (`broken`): every later put is refused.
    pub(super) fn undo_log(&self, wal: &mut Wal, before: u64) {
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
}
