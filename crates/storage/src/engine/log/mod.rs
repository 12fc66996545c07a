//! The log-structured engine (Bitcask's design): every put is appended to
//! a segment file, an in-memory key directory says where each key's newest
//! entry is, and a background thread writes hint files and compacts.
//!
//! Why (issue 18, `docs/STORAGE.md`): a `--sync always` batch costs one
//! `write` and one `fdatasync` of the active segment — no B-tree pages, no
//! second file; entries are small (an 11-byte header, no version for v1
//! records, values LZ4-compressed when that is smaller); and each entry
//! carries a CRC-32C checked on every read, so a damaged record is
//! answered with [`EngineError::CorruptRecord`], never served as a value
//! or as "not found".
//!
//! A data directory holds `FORMAT` ([`FORMAT_TEXT`]) and `LOCK` as the
//! redb engine's do (`durable/dir.rs`), `dkvs.created` once the first
//! segment exists, the segments `<id>.seg` and their hints `<id>.hint`
//! (`file.rs`). Segment ids grow by [`ID_GAP`] when a new active segment
//! starts, so compaction can give its output ids between the segments it
//! rewrites and the active one: opening applies segments in id order, and
//! a later id always holds the later write.
//!
//! Layout: this file holds [`LogEngine`], its options and the [`Engine`]
//! impl; `entry.rs` an entry's bytes and CRC, `keydir.rs` the key
//! directory, `file.rs` segment and hint files, `write.rs` batches of
//! puts, removals and the tombstone sweep, `read.rs` gets and pages,
//! `recover.rs` opening, `merge.rs` the background thread (hints and
//! compaction), `check.rs` the offline check of a directory.

mod check;
mod entry;
mod file;
mod keydir;
mod merge;
mod read;
mod recover;
#[cfg(test)]
mod tests;
mod write;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::durable::DurableOptions;
use super::{Engine, EngineError, EngineStats, Pairs, PutResults, Record, SyncPolicy};

pub use check::{BadRecord, Report, check_dir};
pub use recover::Damage;

/// The content of a log data directory's `FORMAT` file.
pub const FORMAT_TEXT: &str = "dkvs data directory\nformat 1\nengine log 1\n";
/// A new active segment starts once the active one reaches this size.
pub const SEGMENT_BYTES: u64 = 64 << 20;
/// Step between the ids of successive active segments (compaction output
/// takes the ids in between).
pub const ID_GAP: u64 = 1 << 16;
/// Compaction runs once the segments hold more than twice the live bytes
/// and at least this much is dead.
pub const MERGE_MIN_DEAD: u64 = 16 << 20;
/// After this long without a put, compaction also runs when a tenth of
/// the segments is dead ([`QUIET_MIN_DEAD`] at least): once per quiet
/// spell, so a store left alone after churn comes back near its live size.
pub const QUIET_AFTER: Duration = Duration::from_secs(3);
/// The dead bytes a quiet-time compaction needs at least (or
/// `merge_min_dead`, when smaller).
pub const QUIET_MIN_DEAD: u64 = 4 << 20;
/// How often the background thread looks for work.
pub const BACKGROUND_EVERY: Duration = Duration::from_secs(1);
/// Keys examined per compaction or sweep step (its bound of work).
pub const STEP_KEYS: usize = 4096;

/// How to open a log engine: the redb engine's options (its `cache` is
/// unused) plus the segment size and compaction threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// `--data-dir`, `--sync`, `--sync-interval`, `--max-disk`.
    pub durable: DurableOptions,
    /// [`SEGMENT_BYTES`] unless a test wants smaller.
    pub segment_bytes: u64,
    /// [`MERGE_MIN_DEAD`] unless a test wants smaller.
    pub merge_min_dead: u64,
    /// Run the background thread (hints, compaction); tests may drive
    /// [`LogEngine::merge_now`] themselves instead.
    pub background: bool,
}

impl LogOptions {
    /// The defaults for `durable`.
    pub fn new(durable: DurableOptions) -> LogOptions {
        LogOptions {
            durable,
            segment_bytes: SEGMENT_BYTES,
            merge_min_dead: MERGE_MIN_DEAD,
            background: true,
        }
    }
}

/// What opening found, for the start-up log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Keys found.
    pub keys: u64,
    /// Segments read from their hint file.
    pub hinted: u64,
    /// Segments scanned entry by entry (no valid hint).
    pub scanned: u64,
    /// Bytes cut off the newest segment: a write torn by a crash.
    pub cut: u64,
    /// Damage found in the middle of segments (logged; see [`check_dir`]).
    pub damage: Vec<Damage>,
    /// Time to open.
    pub took: Duration,
}

/// A segment file open for reading.
#[derive(Debug)]
struct Segment {
    file: Arc<File>,
    /// Bytes written (the active segment's grows).
    len: u64,
}

/// The segment being appended to, owned by the single writer.
#[derive(Debug)]
struct Active {
    id: u64,
    file: Arc<File>,
    len: u64,
    /// The room left after the last batch and when the disk was last
    /// asked (`statvfs`), so that a batch does not cost a system call
    /// while the disk is far from full ([`ROOM_FRESH`], [`ROOM_LOW`]).
    room: Option<(std::time::Instant, super::durable::space::Room)>,
}

/// How long a free-space figure is trusted (the reserve covers what
/// other writers take meanwhile).
const ROOM_FRESH: Duration = Duration::from_secs(1);
/// Below this much room the disk is asked before every batch.
const ROOM_LOW: u64 = 256 << 20;

/// The state shared with the background thread.
#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    sync: SyncPolicy,
    sync_interval: Duration,
    limit: u64,
    segment_bytes: u64,
    merge_min_dead: u64,
    keydir: RwLock<keydir::KeyDir>,
    segments: RwLock<BTreeMap<u64, Segment>>,
    /// The writer: each batch, removal, sweep step and roll holds it.
    active: Mutex<Active>,
    /// Appended but not yet synced (`periodic`, `none`).
    dirty: AtomicBool,
    commits: AtomicU64,
    syncs: AtomicU64,
    corrupt_reads: AtomicU64,
    merges: AtomicU64,
    /// When a write last failed: puts are refused for a second after it.
    failed_at: Mutex<Option<Instant>>,
    /// A failed batch could not be cut back off the segment: every put is
    /// refused until a restart.
    broken: AtomicBool,
    warned_full: Mutex<Option<Instant>>,
    /// The last compaction was put off for want of free space (logged
    /// once, when it starts being so).
    merge_blocked: AtomicBool,
    sweep_from: Mutex<Option<Box<[u8]>>>,
    /// One compaction (or hint writing) at a time.
    merging: Mutex<()>,
    /// Sealed segments with damage: no hint is written for them, so each
    /// start scans them and reports the damage again.
    unhintable: Mutex<std::collections::HashSet<u64>>,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The log-structured engine (see the module comment).
#[derive(Debug)]
pub struct LogEngine {
    inner: Arc<Inner>,
    background: Option<JoinHandle<()>>,
    _lock: File,
    report: OpenReport,
}

impl Inner {
    fn lock_active(&self) -> Result<MutexGuard<'_, Active>, EngineError> {
        self.active
            .lock()
            .map_err(|_| EngineError::other("writer lock poisoned"))
    }

    fn read_keydir(&self) -> Result<std::sync::RwLockReadGuard<'_, keydir::KeyDir>, EngineError> {
        self.keydir
            .read()
            .map_err(|_| EngineError::other("key directory lock poisoned"))
    }

    fn write_keydir(&self) -> Result<std::sync::RwLockWriteGuard<'_, keydir::KeyDir>, EngineError> {
        self.keydir
            .write()
            .map_err(|_| EngineError::other("key directory lock poisoned"))
    }

    /// The file of segment `seg` (kept open by the `Arc` even if
    /// compaction removes it meanwhile).
    fn segment(&self, seg: u64) -> Result<Arc<File>, EngineError> {
        let segments = self
            .segments
            .read()
            .map_err(|_| EngineError::other("segment list lock poisoned"))?;
        segments
            .get(&seg)
            .map(|s| Arc::clone(&s.file))
            .ok_or_else(|| {
                EngineError::other(format!("segment {} is missing", file::seg_name(seg)))
            })
    }

    fn stats(&self) -> EngineStats {
        let (keys, used) = self
            .keydir
            .read()
            .map(|k| (k.len(), k.used()))
            .unwrap_or_default();
        EngineStats {
            keys,
            used_bytes: used,
            limit: self.limit,
            commits: self.commits.load(Ordering::Relaxed),
            syncs: self.syncs.load(Ordering::Relaxed),
            corrupt_reads: self.corrupt_reads.load(Ordering::Relaxed),
        }
    }
}

impl LogEngine {
    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The sync policy in force.
    pub fn sync_policy(&self) -> SyncPolicy {
        self.inner.sync
    }

    /// How often the committer calls [`Engine::sync`]: the sync interval
    /// under `periodic`, never otherwise (`always` syncs each batch).
    pub fn sync_every(&self) -> Option<Duration> {
        match self.inner.sync {
            SyncPolicy::Periodic => Some(self.inner.sync_interval),
            SyncPolicy::Always | SyncPolicy::None => None,
        }
    }

    /// What opening found.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// Bytes of every segment file (live and dead entries).
    pub fn disk_bytes(&self) -> u64 {
        self.inner
            .segments
            .read()
            .map(|s| s.values().map(|s| s.len).sum())
            .unwrap_or(0)
    }

    /// Compactions finished.
    pub fn merges(&self) -> u64 {
        self.inner.merges.load(Ordering::Relaxed)
    }

    /// Writes missing hints and compacts now if the dead bytes call for it
    /// (`force`: whatever they are); true when a compaction ran.
    pub fn merge_now(&self, force: bool) -> Result<bool, EngineError> {
        self.inner.write_hints()?;
        let trigger = if force {
            merge::Trigger::Force
        } else {
            merge::Trigger::Busy
        };
        self.inner.merge(trigger)
    }

    /// As [`LogEngine::merge_now`] when the store has been quiet
    /// ([`QUIET_AFTER`]); true when a compaction ran.
    pub fn merge_quiet_now(&self) -> Result<bool, EngineError> {
        self.inner.write_hints()?;
        self.inner.merge(merge::Trigger::Quiet)
    }
}

impl Drop for LogEngine {
    /// Stops the background thread and syncs what was appended.
    fn drop(&mut self) {
        if let Ok(mut stop) = self.inner.stop.lock() {
            *stop = true;
        }
        self.inner.wake.notify_all();
        if let Some(thread) = self.background.take()
            && thread.join().is_err()
        {
            tracing::error!("the log engine's background thread panicked");
        }
        if let Err(e) = self.inner.sync_active() {
            tracing::error!(error = %e, "final sync failed");
        }
    }
}

impl Engine for LogEngine {
    fn get(&self, key: &[u8]) -> Result<Option<Record>, EngineError> {
        self.inner.read_record(key)
    }

    fn put_batch(&self, puts: &[(Bytes, Record)]) -> PutResults {
        self.inner.put_records(puts)
    }

    /// Every readable record; one failing its check is left out (logged
    /// and counted in [`EngineStats::corrupt_reads`]) so that a dump or an
    /// anti-entropy pass goes on, and the key's replicas refill it.
    fn snapshot(&self) -> Result<Pairs, EngineError> {
        let mut all = Vec::new();
        let mut cursor: Option<Box<[u8]>> = None;
        loop {
            let (page, more) = self.inner.read_page(cursor.as_deref(), STEP_KEYS)?;
            cursor = page.last().map(|(k, _)| k.clone()).or(cursor);
            all.extend(page);
            if !more {
                return Ok(all);
            }
        }
    }

    fn page(&self, cursor: &[u8], max: usize) -> Result<(Pairs, bool), EngineError> {
        let from = (!cursor.is_empty()).then_some(cursor);
        self.inner.read_page(from, max)
    }

    /// Appends a removal entry (synced with the next batch): a removal lost
    /// in a crash brings the key back, as with the redb engine.
    fn remove_if_unchanged(&self, key: &[u8], record: &Record) -> Result<bool, EngineError> {
        self.inner.remove_unchanged(key, record)
    }

    fn purge_tombstones(
        &self,
        now_ms: u64,
        grace_ms: u64,
        max: usize,
    ) -> Result<usize, EngineError> {
        self.inner.purge_step(now_ms, grace_ms, max)
    }

    fn sync(&self) -> Result<(), EngineError> {
        self.inner.sync_active()
    }

    fn stats(&self) -> EngineStats {
        self.inner.stats()
    }

    fn needs_committer(&self) -> bool {
        true
    }
}
