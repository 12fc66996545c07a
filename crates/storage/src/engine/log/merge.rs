//! The background thread: hint files for sealed segments (so a restart
//! reads a few bytes per key), and compaction, which rewrites the live
//! entries into new segments so that overwritten and deleted records stop
//! taking disk space.
//!
//! A compaction rolls the active segment, so every existing segment is an
//! input; walks the key directory in steps of [`STEP_KEYS`] keys, copying
//! each entry still in an input (its bytes unchanged: a damaged entry
//! stays damaged, never healed into a wrong value) to output segments
//! whose ids lie between the inputs and the new active segment; swaps each
//! key to its copy only if it still points at the copied entry (a put that
//! landed meanwhile wins); then syncs the outputs, writes their hints, and
//! deletes the inputs in id order. A crash at any point leaves either the
//! inputs or their copies (later ids) to be applied in order: the same
//! keys. Removal entries are dropped: every older segment is an input.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Instant;

use super::super::EngineError;
use super::super::durable::space;
use super::file::{self, hint_name, read_at, seg_name};
use super::keydir::{CORRUPT, Loc};
use super::recover::{create_segment, scan};
use super::{BACKGROUND_EVERY, Inner, QUIET_AFTER, QUIET_MIN_DEAD, STEP_KEYS, Segment, entry};

/// Free disk space a compaction leaves beyond its outputs and their hints.
const COMPACT_MARGIN: u64 = 1 << 20;

/// Starts the background thread.
pub(super) fn start(inner: Arc<Inner>) -> Result<JoinHandle<()>, EngineError> {
    std::thread::Builder::new()
        .name("dkvs-log-merge".into())
        .spawn(move || run(&inner))
        .map_err(|e| EngineError::io("cannot start the log compaction thread", e))
}

/// Why a compaction is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// Whatever the dead bytes are (tests, tools).
    Force,
    /// Puts are arriving: more dead than live bytes, and at least the
    /// threshold.
    Busy,
    /// No put for [`QUIET_AFTER`]: a tenth of the bytes dead is enough.
    Quiet,
}

fn run(inner: &Inner) {
    // The put count last seen, when it last changed, and whether this
    // quiet spell had its compaction.
    let mut seen = (inner.commits.load(Ordering::Relaxed), Instant::now());
    let mut quiet_done = false;
    loop {
        let Ok(stop) = inner.stop.lock() else { return };
        let Ok((stop, _)) = inner.wake.wait_timeout(stop, BACKGROUND_EVERY) else {
            return;
        };
        if *stop {
            return;
        }
        drop(stop);
        if let Err(e) = inner.write_hints() {
            tracing::error!(error = %e, "writing hint files failed");
        }
        let commits = inner.commits.load(Ordering::Relaxed);
        if commits != seen.0 {
            seen = (commits, Instant::now());
            quiet_done = false;
        }
        let quiet = !quiet_done && seen.1.elapsed() >= QUIET_AFTER;
        let trigger = if quiet { Trigger::Quiet } else { Trigger::Busy };
        // A quiet spell's compaction is done once it ran; until then (too
        // little dead yet, no room, an error) it is looked for each second.
        match inner.merge(trigger) {
            Ok(ran) => quiet_done |= quiet && ran,
            Err(e) => tracing::error!(error = %e, "log compaction failed"),
        }
    }
}

/// An output segment being filled.
pub(super) struct Output {
    id: u64,
    file: Arc<std::fs::File>,
    len: u64,
    items: Vec<(Box<[u8]>, Loc)>,
}

impl Inner {
    /// Writes a hint for each sealed segment that has none and is intact.
    pub(super) fn write_hints(&self) -> Result<(), EngineError> {
        let Ok(_merging) = self.merging.try_lock() else {
            return Ok(());
        };
        let active = self.lock_active()?.id;
        let sealed: Vec<(u64, u64)> = self
            .segments
            .read()
            .map_err(|_| EngineError::other("segment list lock poisoned"))?
            .iter()
            .filter(|(id, _)| **id < active)
            .map(|(id, s)| (*id, s.len))
            .collect();
        for (id, len) in sealed {
            let skip = self
                .unhintable
                .lock()
                .map(|u| u.contains(&id))
                .unwrap_or(true);
            if skip || self.dir.join(hint_name(id)).exists() {
                continue;
            }
            let path = self.dir.join(seg_name(id));
            let bytes = std::fs::read(&path)
                .map_err(|e| EngineError::io(format_args!("cannot read {}", path.display()), e))?;
            let found = scan(id, &bytes);
            if !found.damage.is_empty() || found.torn_at.is_some() || bytes.len() as u64 != len {
                if let Ok(mut u) = self.unhintable.lock() {
                    u.insert(id);
                }
                continue;
            }
            let hint = file::encode_hint(len, found.items.iter().map(|(k, l)| (&k[..], *l)));
            file::write_hint(&self.dir, id, &hint)
                .map_err(|e| EngineError::io(format_args!("cannot write {}", hint_name(id)), e))?;
        }
        Ok(())
    }

    /// Compacts when `trigger`'s condition holds ([`Trigger`]); true when
    /// it ran.
    pub(super) fn merge(&self, trigger: Trigger) -> Result<bool, EngineError> {
        let Ok(_merging) = self.merging.try_lock() else {
            return Ok(false);
        };
        let total: u64 = self
            .segments
            .read()
            .map_err(|_| EngineError::other("segment list lock poisoned"))?
            .values()
            .map(|s| s.len)
            .sum();
        let live = self.read_keydir()?.live_total();
        let dead = total.saturating_sub(live);
        let wanted = match trigger {
            Trigger::Force => true,
            Trigger::Busy => dead > live && dead >= self.merge_min_dead,
            Trigger::Quiet => {
                dead.saturating_mul(10) >= total && dead >= self.merge_min_dead.min(QUIET_MIN_DEAD)
            }
        };
        if !wanted {
            return Ok(false);
        }
        if !self.room_to_compact(live, total) {
            return Ok(false);
        }
        let top = {
            let mut active = self.lock_active()?;
            self.roll(&mut active)?
        };
        let mut out: Option<Output> = None;
        let mut cursor: Option<Box<[u8]>> = None;
        let mut complete = true;
        loop {
            let (page, more) = self.read_keydir()?.range(cursor.as_deref(), STEP_KEYS);
            cursor = page.last().map(|(k, _)| k.clone()).or(cursor);
            complete &= self.copy_step(top, page, &mut out)?;
            if !more {
                break;
            }
        }
        if let Some(o) = out.take() {
            self.finish_output(o)?;
        }
        if complete {
            self.delete_inputs(top)?;
        }
        self.merges.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Whether the disk has room for a compaction's outputs: the live bytes
    /// and their hints (a hint item is about an entry's size, so twice the
    /// live bytes) plus [`COMPACT_MARGIN`]. A compaction that ran out of
    /// space would fail half-way, after filling the disk (its reserve
    /// included) with copies, and free nothing; it is put off instead, with
    /// one warning, and tried again each second.
    pub(super) fn room_to_compact(&self, live: u64, total: u64) -> bool {
        let need = live.saturating_mul(2).saturating_add(COMPACT_MARGIN);
        let free = space::free_bytes(&self.dir);
        let room = free.is_none_or(|free| free >= need);
        let was_blocked = self.merge_blocked.swap(!room, Ordering::AcqRel);
        if !room && !was_blocked {
            tracing::warn!(
                dir = %self.dir.display(),
                live_bytes = live,
                segment_bytes = total,
                free_bytes = free.unwrap_or(0),
                needed_bytes = need,
                "compaction put off: not enough free disk space for the live data's copy; \
                 free some space (or move the data directory) so that dead bytes can be reclaimed"
            );
        }
        room
    }

    /// Copies the entries of `page` that are in segments up to `top` into
    /// the output, then swaps the keys still pointing at them; false when
    /// an entry could not be read (the inputs are then kept).
    pub(super) fn copy_step(
        &self,
        top: u64,
        page: Vec<(Box<[u8]>, Loc)>,
        out: &mut Option<Output>,
    ) -> Result<bool, EngineError> {
        let mut complete = true;
        let mut buf = Vec::new();
        let mut moves = Vec::new();
        for (key, loc) in page.into_iter().filter(|(_, l)| l.seg <= top) {
            let Ok(bytes) = self.segment(loc.seg).and_then(|f| {
                read_at(&f, u64::from(loc.off), loc.len as usize)
                    .map_err(|e| EngineError::io("read", e))
            }) else {
                complete = false;
                continue;
            };
            let fits = out.as_ref().is_some_and(|o| {
                let at = o.len + buf.len() as u64;
                at == 0 || at + bytes.len() as u64 <= self.segment_bytes
            });
            if !fits {
                if let Some(full) = out.take() {
                    self.flush(full, &mut buf, &mut moves)?;
                }
                let id = out_id(top, &self.segments)?;
                let file = create_segment(&self.dir, id)?;
                *out = Some(Output {
                    id,
                    file,
                    len: 0,
                    items: Vec::new(),
                });
            }
            let Some(o) = out.as_mut() else {
                continue;
            };
            let Ok(off) = u32::try_from(o.len + buf.len() as u64) else {
                complete = false;
                continue;
            };
            let mut new = Loc {
                seg: o.id,
                off,
                ..loc
            };
            if !entry::parse(&bytes).is_some_and(|p| p.crc_ok) {
                new.flags |= CORRUPT;
            }
            buf.extend_from_slice(&bytes);
            moves.push((key, loc, new));
        }
        if let Some(o) = out.take() {
            *out = Some(self.flush_keep(o, &mut buf, &mut moves)?);
        }
        Ok(complete)
    }

    /// Writes `buf` to the output and swaps the keys of `moves`; the
    /// output, still open.
    fn flush_keep(
        &self,
        mut o: Output,
        buf: &mut Vec<u8>,
        moves: &mut Vec<(Box<[u8]>, Loc, Loc)>,
    ) -> Result<Output, EngineError> {
        if buf.is_empty() {
            return Ok(o);
        }
        o.file
            .write_all_at(buf, o.len)
            .map_err(|e| EngineError::io(format_args!("cannot write {}", seg_name(o.id)), e))?;
        o.len += buf.len() as u64;
        // Puts spend a free-space figure kept for up to a second; a
        // compaction writes faster than that figure's margin allows for,
        // so the next batch asks the disk again.
        if let Ok(mut active) = self.active.lock() {
            active.room = None;
        }
        buf.clear();
        {
            let mut segments = self
                .segments
                .write()
                .map_err(|_| EngineError::other("segment list lock poisoned"))?;
            segments.insert(
                o.id,
                Segment {
                    file: Arc::clone(&o.file),
                    len: o.len,
                },
            );
        }
        let mut keydir = self.write_keydir()?;
        for (key, old, new) in moves.drain(..) {
            keydir.replace_if(&key, &old, new);
            o.items.push((key, new));
        }
        Ok(o)
    }

    /// [`Inner::flush_keep`], then the output finished.
    fn flush(
        &self,
        o: Output,
        buf: &mut Vec<u8>,
        moves: &mut Vec<(Box<[u8]>, Loc, Loc)>,
    ) -> Result<(), EngineError> {
        let o = self.flush_keep(o, buf, moves)?;
        self.finish_output(o)
    }

    /// Syncs an output segment and writes its hint.
    fn finish_output(&self, o: Output) -> Result<(), EngineError> {
        o.file
            .sync_all()
            .map_err(|e| EngineError::io(format_args!("cannot sync {}", seg_name(o.id)), e))?;
        let hint = file::encode_hint(o.len, o.items.iter().map(|(k, l)| (&k[..], *l)));
        file::write_hint(&self.dir, o.id, &hint)
            .map_err(|e| EngineError::io(format_args!("cannot write {}", hint_name(o.id)), e))
    }

    /// Deletes the segments up to `top` (and their hints), in id order.
    fn delete_inputs(&self, top: u64) -> Result<(), EngineError> {
        let inputs: Vec<u64> = self
            .segments
            .read()
            .map_err(|_| EngineError::other("segment list lock poisoned"))?
            .keys()
            .copied()
            .filter(|&id| id <= top)
            .collect();
        for id in inputs {
            let damaged = self.unhintable.lock().map_or(true, |u| u.contains(&id));
            if damaged {
                // Kept aside for `--check` and forensics, never read again.
                let name = seg_name(id);
                std::fs::rename(
                    self.dir.join(&name),
                    self.dir.join(format!("{name}.damaged")),
                )
                .map_err(|e| EngineError::io(format_args!("cannot set {name} aside"), e))?;
                tracing::warn!(file = %name, "damaged segment compacted; kept as {name}.damaged");
            }
            for name in [seg_name(id), hint_name(id)] {
                match std::fs::remove_file(self.dir.join(&name)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(EngineError::io(format_args!("cannot remove {name}"), e)),
                }
            }
            if let Ok(mut segments) = self.segments.write() {
                segments.remove(&id);
            }
            if let Ok(mut u) = self.unhintable.lock() {
                u.remove(&id);
            }
        }
        file::sync_dir(&self.dir)
            .map_err(|e| EngineError::io(format_args!("cannot sync {}", self.dir.display()), e))
    }
}

/// The next output id after `top`: one past the highest id in use below
/// the active segment's.
fn out_id(
    top: u64,
    segments: &std::sync::RwLock<std::collections::BTreeMap<u64, Segment>>,
) -> Result<u64, EngineError> {
    let segments = segments
        .read()
        .map_err(|_| EngineError::other("segment list lock poisoned"))?;
    let last = segments
        .range(top..top + super::ID_GAP)
        .next_back()
        .map_or(top, |(id, _)| *id);
    Ok(last + 1)
}
