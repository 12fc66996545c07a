//! Opening a log directory: the directory checked and locked as the redb
//! engine's is, then every segment applied in id order — from its hint
//! file when it has a valid one, otherwise by scanning its entries and
//! checking each CRC. A bad entry running past the end of the newest
//! segment, with nothing valid after it, is a write torn by a crash (never
//! acknowledged under `always`: a batch is acknowledged after its sync) and
//! is cut off; a whole damaged entry ending the file is not; damage anywhere
//! else is reported and logged, never silently dropped: a damaged entry
//! whose frame is intact stays in the key directory, marked corrupt, so
//! reading it is [`EngineError::CorruptRecord`].

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::Instant;

use super::super::EngineError;
use super::super::durable::CREATED_FILE;
use super::super::durable::dir::{
    check_foreign_as, check_format_as, create_dirs, lock_dir, write_pid, write_synced,
};
use super::file::{self, hint_name, seg_name};
use super::keydir::{CORRUPT, KeyDir, Loc};
use super::{
    Active, FORMAT_TEXT, ID_GAP, Inner, LogEngine, LogOptions, OpenReport, Segment, entry,
};

/// A damaged range of a segment found when opening.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The segment's id.
    pub segment: u64,
    /// The segment's file name.
    pub file: String,
    /// Where the damage starts.
    pub from: u64,
    /// Where the next valid entry starts (or the file ends).
    pub to: u64,
    /// A damaged entry whose frame is intact: its key is known and reads
    /// of it report the damage; otherwise entries in the range are lost.
    pub framed: bool,
}

/// What a scan of one segment's bytes found.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Every entry (valid or framed but damaged), in order.
    pub items: Vec<(Box<[u8]>, Loc)>,
    /// Damaged ranges.
    pub damage: Vec<Damage>,
    /// Where a torn tail starts (a bad entry with nothing valid after it).
    pub torn_at: Option<u64>,
}

/// Scans the entries of segment `seg` (see the module comment): a bad
/// entry with nothing valid after it is a torn tail ([`Scan::torn_at`]),
/// which the caller cuts off the newest segment and reports as damage in a
/// sealed one (synced whole before the next was started).
pub(super) fn scan(seg: u64, bytes: &[u8]) -> Scan {
    let mut out = Scan::default();
    let mut at = 0usize;
    while at < bytes.len() {
        let rest = bytes.get(at..).unwrap_or_default();
        let parsed = entry::parse(rest).filter(|p| p.len > 0);
        let Some(p) = parsed else {
            match lost(seg, bytes, at, &mut out) {
                Some(next) => at = next,
                None => break,
            }
            continue;
        };
        let vlen = entry::value_len(&p).unwrap_or(0);
        let (Ok(off), Ok(len)) = (u32::try_from(at), u32::try_from(p.len)) else {
            break;
        };
        let framed_bad = !p.crc_ok && frames_to_valid(bytes, at + p.len);
        if !p.crc_ok && !framed_bad {
            match lost(seg, bytes, at, &mut out) {
                Some(next) => at = next,
                None => break,
            }
            continue;
        }
        let mut flags = p.flags;
        if framed_bad {
            flags |= CORRUPT;
            out.damage.push(Damage {
                segment: seg,
                file: seg_name(seg),
                from: at as u64,
                to: (at + p.len) as u64,
                framed: true,
            });
        }
        let loc = Loc {
            seg,
            off,
            len,
            vlen,
            version: p.version,
            flags,
        };
        out.items.push((p.key.into(), loc));
        at += p.len;
    }
    out
}

/// Entries a damaged entry's frame is followed through (a run of damaged
/// entries, such as compaction packs together, stays framed). Each damaged
/// entry walks the run after it, so this bounds the work of a long run.
const FRAME_HOPS: usize = 1024;

/// Whether the entries from `at` on frame (by their lengths) up to a valid
/// entry, or exactly to the end of the segment, within
/// [`FRAME_HOPS`] entries: then a damaged entry before `at` has a trusted
/// frame, its key is kept (reads of it are refused) and the scan goes on.
fn frames_to_valid(bytes: &[u8], mut at: usize) -> bool {
    for _ in 0..FRAME_HOPS {
        // A whole frame ending exactly at the end of the file, newest
        // segment too: a write torn by a crash leaves a frame running past
        // the end, so this is damage to an acknowledged entry, kept (its
        // reads refused, a put replaces it) rather than cut off unseen.
        if at == bytes.len() {
            return true;
        }
        match bytes.get(at..).and_then(entry::parse) {
            Some(p) if p.crc_ok => return true,
            Some(p) if p.len > 0 => at += p.len,
            _ => return false,
        }
    }
    false
}

/// Records the damage starting at `at`: the range up to the next valid
/// entry (where the scan goes on), or the torn tail (`None`).
fn lost(seg: u64, bytes: &[u8], at: usize, out: &mut Scan) -> Option<usize> {
    match entry::next_valid(bytes, at + 1) {
        Some(next) => {
            out.damage.push(Damage {
                segment: seg,
                file: seg_name(seg),
                from: at as u64,
                to: next as u64,
                framed: false,
            });
            Some(next)
        }
        None => {
            out.torn_at = Some(at as u64);
            None
        }
    }
}

impl LogEngine {
    /// Opens (creating if needed) the log data directory of `options`.
    pub fn open(options: &LogOptions) -> Result<LogEngine, EngineError> {
        let started = Instant::now();
        let o = &options.durable;
        let dir = o.dir.clone();
        create_dirs(&dir).map_err(|e| {
            EngineError::io(
                format_args!("cannot create data directory {}", dir.display()),
                e,
            )
        })?;
        check_foreign_as(&dir, FORMAT_TEXT)?;
        let mut lock = lock_dir(&dir)?;
        check_format_as(&dir, FORMAT_TEXT)?;
        write_pid(&dir, &mut lock)?;
        let (segs, hints) = file::list(&dir)
            .map_err(|e| EngineError::io(format_args!("cannot read {}", dir.display()), e))?;
        if segs.is_empty() && dir.join(CREATED_FILE).exists() {
            return Err(EngineError::other(format!(
                "the segment files of data directory {} are missing: refusing to start \
                 without the puts they held",
                dir.display()
            )));
        }
        let mut report = OpenReport::default();
        let mut items = Vec::new();
        let mut segments = BTreeMap::new();
        let newest = segs.last().copied();
        for &id in &segs {
            let hinted = hints.binary_search(&id).is_ok();
            let seg = load_segment(
                &dir,
                id,
                hinted,
                Some(id) == newest,
                &mut items,
                &mut report,
            )?;
            segments.insert(id, seg);
        }
        let top = segs.last().copied().unwrap_or(0);
        let id = (top / ID_GAP + 1) * ID_GAP;
        let active_file = create_segment(&dir, id)?;
        segments.insert(
            id,
            Segment {
                file: Arc::clone(&active_file),
                len: 0,
            },
        );
        if !dir.join(CREATED_FILE).exists() {
            write_synced(&dir, CREATED_FILE, b"")?;
        }
        for d in &report.damage {
            tracing::error!(file = %d.file, from = d.from, to = d.to, framed = d.framed,
                "damaged log entries; reads of them are refused (see dkvs-server --check)");
        }
        let keydir = KeyDir::build(items);
        report.keys = keydir.len();
        report.took = started.elapsed();
        let active = Active {
            id,
            file: active_file,
            len: 0,
            room: None,
        };
        let inner = Arc::new(Inner::new(dir, options, keydir, segments, active));
        if let Ok(mut damaged) = inner.unhintable.lock() {
            damaged.extend(report.damage.iter().map(|d| d.segment));
        }
        let background = if options.background {
            Some(super::merge::start(Arc::clone(&inner))?)
        } else {
            None
        };
        Ok(LogEngine {
            inner,
            background,
            _lock: lock,
            report,
        })
    }
}

impl Inner {
    /// The engine's state once its directory is read.
    fn new(
        dir: std::path::PathBuf,
        options: &LogOptions,
        keydir: KeyDir,
        segments: BTreeMap<u64, Segment>,
        active: Active,
    ) -> Inner {
        Inner {
            dir,
            sync: options.durable.sync,
            sync_interval: options.durable.sync_interval,
            limit: options.durable.max_disk,
            segment_bytes: options.segment_bytes.max(1),
            merge_min_dead: options.merge_min_dead,
            keydir: RwLock::new(keydir),
            segments: RwLock::new(segments),
            active: Mutex::new(active),
            dirty: AtomicBool::new(false),
            commits: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            corrupt_reads: AtomicU64::new(0),
            merges: AtomicU64::new(0),
            failed_at: Mutex::new(None),
            broken: AtomicBool::new(false),
            warned_full: Mutex::new(None),
            merge_blocked: AtomicBool::new(false),
            sweep_from: Mutex::new(None),
            merging: Mutex::new(()),
            unhintable: Mutex::new(std::collections::HashSet::new()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        }
    }
}

/// Creates segment `id` (and syncs its directory entry).
pub(super) fn create_segment(dir: &Path, id: u64) -> Result<Arc<File>, EngineError> {
    let path = dir.join(seg_name(id));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| EngineError::io(format_args!("cannot create {}", path.display()), e))?;
    file::sync_dir(dir)
        .map_err(|e| EngineError::io(format_args!("cannot sync {}", dir.display()), e))?;
    Ok(Arc::new(file))
}

/// Adds the entries of segment `id` to `all`: from its hint when valid, else by a
/// scan (cutting a torn tail off the newest segment).
fn load_segment(
    dir: &Path,
    id: u64,
    hinted: bool,
    newest: bool,
    all: &mut Vec<(Box<[u8]>, Loc)>,
    report: &mut OpenReport,
) -> Result<Segment, EngineError> {
    let path = dir.join(seg_name(id));
    let io = |what: &str, e| EngineError::io(format_args!("cannot {what} {}", path.display()), e);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| io("open", e))?;
    let mut len = file.metadata().map_err(|e| io("stat", e))?.len();
    let from_hint = hinted
        .then(|| std::fs::read(dir.join(hint_name(id))).ok())
        .flatten()
        .and_then(|bytes| file::decode_hint(&bytes, id, len));
    let items = match from_hint {
        Some(items) => {
            report.hinted += 1;
            items
        }
        None => {
            if hinted {
                tracing::error!(hint = %hint_name(id), "damaged hint file ignored; segment scanned");
            }
            report.scanned += 1;
            let bytes = std::fs::read(&path).map_err(|e| io("read", e))?;
            let found = scan(id, &bytes);
            report.damage.extend(found.damage);
            if let Some(torn) = found.torn_at {
                if newest {
                    file.set_len(torn).map_err(|e| io("truncate", e))?;
                    file.sync_all().map_err(|e| io("sync", e))?;
                    report.cut += len - torn;
                    tracing::warn!(file = %seg_name(id), cut = len - torn, "torn write cut off");
                    len = torn;
                } else {
                    report.damage.push(Damage {
                        segment: id,
                        file: seg_name(id),
                        from: torn,
                        to: len,
                        framed: false,
                    });
                }
            }
            found.items
        }
    };
    all.extend(items);
    Ok(Segment {
        file: Arc::new(file),
        len,
    })
}
