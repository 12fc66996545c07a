//! Writes: a batch of puts as one append (one `write`, one `fdatasync`
//! under `--sync always`) before the key directory is updated, removal
//! entries (rebalance, tombstone sweep), syncs and segment rolls.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::super::durable::kept_instead;
use super::super::durable::space::{self, Room};
use super::super::{EngineError, PutResults, Record, Refused, SyncPolicy, tombstone_expired};
use super::file::{seg_name, sync_dir};
use super::keydir::Loc;
use super::{Active, ID_GAP, Inner, ROOM_FRESH, ROOM_LOW, STEP_KEYS, Segment, entry};

/// After a failed write, puts are refused for this long before the disk is
/// tried again.
const IO_RETRY: Duration = Duration::from_secs(1);

/// A batch encoded for the active segment.
struct Staged {
    results: PutResults,
    /// The entries' bytes, written at the active segment's end.
    buf: Vec<u8>,
    /// Each stored key's new location, in order.
    locs: Vec<(Bytes, Loc)>,
    /// The room left after these puts.
    room: Room,
}

impl Inner {
    /// [`super::super::Engine::put_batch`].
    pub(super) fn put_records(&self, puts: &[(Bytes, Record)]) -> PutResults {
        if puts.is_empty() {
            return Vec::new();
        }
        let refuse = |why: String| vec![Err(Refused::Io(why)); puts.len()];
        let Ok(mut active) = self.active.lock() else {
            return refuse("writer lock poisoned".into());
        };
        if let Some(why) = self.refusing() {
            return refuse(why);
        }
        if let Err(e) = self.roll_if_full(&mut active) {
            self.failed();
            return refuse(e.to_string());
        }
        let (asked, room) = self.room(&active);
        let staged = match self.stage(&active, puts, room) {
            Ok(s) => s,
            Err(e) => return refuse(e.to_string()),
        };
        if staged.buf.is_empty() {
            return staged.results;
        }
        if let Err(e) = self.append(&mut active, &staged.buf) {
            tracing::error!(error = %e, puts = puts.len(), "write failed; puts refused");
            return refuse(e.to_string());
        }
        if let Err(e) = self.publish(&active, &staged.locs) {
            return refuse(e.to_string());
        }
        active.room = Some((asked, staged.room));
        self.commits.fetch_add(1, Ordering::Relaxed);
        space::warn_no_space(&self.dir, &self.warned_full, &staged.results);
        staged.results
    }

    /// The room a batch may take: what is left of the last figure while
    /// it is fresh and far from the reserve, else the disk asked again.
    /// Returns it with the time the disk was asked.
    fn room(&self, active: &Active) -> (Instant, Room) {
        match active.room {
            Some((at, room)) if at.elapsed() < ROOM_FRESH && room.left() > ROOM_LOW => (at, room),
            _ => (
                Instant::now(),
                Room::serving(&self.dir, self.limit).with_factor(1),
            ),
        }
    }

    /// The version rule and the size checks for each put, against the key
    /// directory and the puts before it in the batch, within `room`.
    fn stage(
        &self,
        active: &Active,
        puts: &[(Bytes, Record)],
        mut room: Room,
    ) -> Result<Staged, EngineError> {
        let keydir = self.read_keydir()?;
        let mut used = keydir.used();
        let mut newer: HashMap<&[u8], Loc> = HashMap::new();
        let mut staged = Staged {
            results: Vec::with_capacity(puts.len()),
            buf: Vec::with_capacity(puts.len() * 64),
            locs: Vec::with_capacity(puts.len()),
            room,
        };
        for (key, record) in puts {
            let old = newer.get(&key[..]).copied().or_else(|| keydir.get(key));
            // A record that failed its check is replaced by any put.
            let kept = old.filter(|l| !l.corrupt()).map(|l| l.version);
            if let Some(result) = kept_instead(record, kept) {
                staged.results.push(result);
                continue;
            }
            let start = staged.buf.len();
            let off = u32::try_from(active.len + start as u64).ok();
            let written = entry::encode(&mut staged.buf, key, Some(record));
            let (Some(off), Some(w), Ok(vlen)) = (off, written, u32::try_from(record.value.len()))
            else {
                staged.buf.truncate(start);
                staged
                    .results
                    .push(Err(Refused::Io("key or value too long".into())));
                continue;
            };
            let loc = Loc {
                seg: active.id,
                off,
                len: w.len,
                vlen,
                version: record.version,
                flags: w.flags,
            };
            let old_size = old.map_or(0, |l| l.accounted(key));
            match room.admit(used, old_size, loc.accounted(key)) {
                Ok(next) => {
                    used = next;
                    newer.insert(key, loc);
                    staged.locs.push((key.clone(), loc));
                    staged.results.push(Ok(()));
                }
                Err(refused) => {
                    staged.buf.truncate(start);
                    staged.results.push(Err(refused));
                }
            }
        }
        staged.room = room;
        Ok(staged)
    }

    /// Points the key directory at a written batch and records the active
    /// segment's new length.
    fn publish(&self, active: &Active, locs: &[(Bytes, Loc)]) -> Result<(), EngineError> {
        let mut keydir = self.write_keydir()?;
        for (key, loc) in locs {
            keydir.insert(key, *loc);
        }
        drop(keydir);
        self.set_len(active.id, active.len)
    }

    fn set_len(&self, id: u64, len: u64) -> Result<(), EngineError> {
        let mut segments = self
            .segments
            .write()
            .map_err(|_| EngineError::other("segment list lock poisoned"))?;
        if let Some(s) = segments.get_mut(&id) {
            s.len = len;
        }
        Ok(())
    }

    /// Why every put is refused now, if it is.
    fn refusing(&self) -> Option<String> {
        if self.broken.load(Ordering::Acquire) {
            return Some("a failed write could not be cut off the log; restart the server".into());
        }
        if let Ok(failed) = self.failed_at.lock()
            && failed.is_some_and(|at| at.elapsed() < IO_RETRY)
        {
            return Some("the last write failed (disk full?); retrying within a second".into());
        }
        None
    }

    fn failed(&self) {
        if let Ok(mut failed) = self.failed_at.lock() {
            *failed = Some(Instant::now());
        }
    }

    /// Appends `buf` to the active segment, synced under `always`. On an
    /// error the segment is cut back to where it was (or, if that fails,
    /// every later put is refused until a restart).
    pub(super) fn append(&self, active: &mut Active, buf: &[u8]) -> std::io::Result<()> {
        let before = active.len;
        let mut written = active.file.write_all_at(buf, before);
        if written.is_ok() && self.sync == SyncPolicy::Always {
            written = active.file.sync_data();
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = written {
            self.failed();
            if let Err(undo) = active
                .file
                .set_len(before)
                .and_then(|()| active.file.sync_data())
            {
                self.broken.store(true, Ordering::Release);
                tracing::error!(error = %undo, "cannot cut a failed write off the log");
            }
            return Err(e);
        }
        if self.sync != SyncPolicy::Always {
            self.dirty.store(true, Ordering::Release);
        }
        active.len += buf.len() as u64;
        Ok(())
    }

    /// Syncs the active segment if anything was appended since the last
    /// sync ([`super::super::Engine::sync`]).
    pub(super) fn sync_active(&self) -> Result<(), EngineError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let (file, id) = {
            let active = self.lock_active()?;
            (Arc::clone(&active.file), active.id)
        };
        self.syncs.fetch_add(1, Ordering::Relaxed);
        file.sync_data().map_err(|e| {
            self.dirty.store(true, Ordering::Release);
            EngineError::io(format_args!("cannot sync {}", seg_name(id)), e)
        })
    }

    /// Starts a new active segment when the current one is full.
    fn roll_if_full(&self, active: &mut Active) -> Result<(), EngineError> {
        if active.len >= self.segment_bytes {
            self.roll(active)?;
        }
        Ok(())
    }

    /// Seals the active segment (synced, so a sealed segment is whole) and
    /// starts a new one whose id is past every id in use by [`ID_GAP`]'s
    /// step; returns the sealed id.
    pub(super) fn roll(&self, active: &mut Active) -> Result<u64, EngineError> {
        let io =
            |what: &str, id: u64, e| EngineError::io(format_args!("{what} {}", seg_name(id)), e);
        active
            .file
            .sync_data()
            .map_err(|e| io("cannot sync", active.id, e))?;
        self.dirty.store(false, Ordering::Release);
        let mut segments = self
            .segments
            .write()
            .map_err(|_| EngineError::other("segment list lock poisoned"))?;
        let top = segments
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0)
            .max(active.id);
        let id = (top / ID_GAP + 1) * ID_GAP;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(self.dir.join(seg_name(id)))
            .map_err(|e| io("cannot create", id, e))?;
        sync_dir(&self.dir).map_err(|e| io("cannot sync the directory of", id, e))?;
        let file = Arc::new(file);
        let len = 0;
        segments.insert(
            id,
            Segment {
                file: Arc::clone(&file),
                len,
            },
        );
        let sealed = active.id;
        *active = Active {
            id,
            file,
            len,
            room: active.room,
        };
        Ok(sealed)
    }

    /// Appends removal entries for `keys` and forgets them.
    fn remove_keys(&self, active: &mut Active, keys: &[Box<[u8]>]) -> Result<(), EngineError> {
        self.roll_if_full(active)?;
        let mut buf = Vec::new();
        for key in keys {
            entry::encode(&mut buf, key, None);
        }
        self.append(active, &buf)
            .map_err(|e| EngineError::io("cannot append removals", e))?;
        let mut keydir = self.write_keydir()?;
        for key in keys {
            keydir.remove(key);
        }
        drop(keydir);
        self.set_len(active.id, active.len)
    }

    /// [`super::super::Engine::remove_if_unchanged`].
    pub(super) fn remove_unchanged(
        &self,
        key: &[u8],
        record: &Record,
    ) -> Result<bool, EngineError> {
        let mut active = self.lock_active()?;
        let Some(loc) = self.read_keydir()?.get(key) else {
            return Ok(false);
        };
        if loc.corrupt() || loc.version != record.version || loc.tombstone() != record.tombstone {
            return Ok(false);
        }
        if self.read_loc(key, &loc)? != *record {
            return Ok(false);
        }
        self.remove_keys(&mut active, &[key.into()])?;
        Ok(true)
    }

    /// [`super::super::Engine::purge_tombstones`]: one sweep step of at
    /// most [`STEP_KEYS`] keys from where the last one stopped.
    pub(super) fn purge_step(
        &self,
        now_ms: u64,
        grace_ms: u64,
        max: usize,
    ) -> Result<usize, EngineError> {
        let mut active = self.lock_active()?;
        let mut from = self
            .sweep_from
            .lock()
            .map_err(|_| EngineError::other("sweep lock poisoned"))?;
        let (page, more) = self.read_keydir()?.range(from.as_deref(), STEP_KEYS);
        *from = if more {
            page.last().map(|(k, _)| k.clone())
        } else {
            None
        };
        let mut expired = Vec::new();
        for (key, loc) in page {
            if expired.len() >= max || !loc.tombstone() || loc.corrupt() {
                continue;
            }
            let Ok(record) = self.read_loc(&key, &loc) else {
                continue;
            };
            if tombstone_expired(&record.value, record.version, now_ms, grace_ms) {
                expired.push(key);
            }
        }
        if !expired.is_empty() {
            self.remove_keys(&mut active, &expired)?;
        }
        Ok(expired.len())
    }
}
