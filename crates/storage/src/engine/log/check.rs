//! The offline check of a log data directory (for `dkvs-server --check
//! DIR`, like `redis-check-aof`): every segment read entry by entry, each
//! CRC and compressed value checked, every hint file checked, and every bad
//! record listed with its file and offset. It changes nothing. (Segments
//! that compaction set aside as `<id>.seg.damaged` are not read: their
//! damage was reported when they were opened.)

use std::path::Path;

use super::super::EngineError;
use super::entry;
use super::file::{self, hint_name, seg_name};
use super::recover::scan;

/// One bad record (or damaged range) of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// The file.
    pub file: String,
    /// Where the bad bytes start.
    pub offset: u64,
    /// How many bytes are bad (up to the next valid entry or the end).
    pub len: u64,
    /// The key, when the entry's frame is intact (it may itself be damaged).
    pub key: Option<Vec<u8>>,
    /// What is wrong.
    pub reason: String,
}

/// What [`check_dir`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Segments read.
    pub segments: u64,
    /// Entries with a valid CRC.
    pub entries: u64,
    /// Bad records and ranges, in file and offset order.
    pub bad: Vec<BadRecord>,
    /// Hint files that fail their check (their segments are scanned at
    /// start instead: nothing is lost).
    pub bad_hints: Vec<String>,
}

impl Report {
    /// Nothing bad was found.
    pub fn is_clean(&self) -> bool {
        self.bad.is_empty() && self.bad_hints.is_empty()
    }
}

/// Checks every segment and hint of the log data directory `dir`.
pub fn check_dir(dir: &Path) -> Result<Report, EngineError> {
    let (segs, hints) = file::list(dir)
        .map_err(|e| EngineError::io(format_args!("cannot read {}", dir.display()), e))?;
    let mut report = Report::default();
    for &id in &segs {
        let path = dir.join(seg_name(id));
        let bytes = std::fs::read(&path)
            .map_err(|e| EngineError::io(format_args!("cannot read {}", path.display()), e))?;
        report.segments += 1;
        let found = scan(id, &bytes);
        for d in &found.damage {
            let at = bytes.get(d.from as usize..).and_then(entry::parse);
            report.bad.push(BadRecord {
                file: d.file.clone(),
                offset: d.from,
                len: d.to - d.from,
                key: at.filter(|_| d.framed).map(|p| p.key.to_vec()),
                reason: if d.framed {
                    "checksum mismatch".into()
                } else {
                    "unreadable entries (their keys are unknown)".into()
                },
            });
        }
        if let Some(torn) = found.torn_at {
            report.bad.push(BadRecord {
                file: seg_name(id),
                offset: torn,
                len: bytes.len() as u64 - torn,
                key: None,
                reason: "incomplete entries at the end (a torn write, cut at start if this is the newest segment)".into(),
            });
        }
        for (key, loc) in &found.items {
            if loc.corrupt() {
                continue;
            }
            report.entries += 1;
            let p = bytes.get(loc.off as usize..).and_then(entry::parse);
            if let Some(Err(reason)) = p
                .filter(|p| p.flags & entry::REMOVE == 0)
                .map(|p| entry::decode(&p))
            {
                report.bad.push(BadRecord {
                    file: seg_name(id),
                    offset: u64::from(loc.off),
                    len: u64::from(loc.len),
                    key: Some(key.to_vec()),
                    reason,
                });
            }
        }
        if hints.binary_search(&id).is_ok() {
            let hint = std::fs::read(dir.join(hint_name(id))).unwrap_or_default();
            if file::decode_hint(&hint, id, bytes.len() as u64).is_none() {
                report.bad_hints.push(hint_name(id));
            }
        }
    }
    report
        .bad
        .sort_by(|a, b| (&a.file, a.offset).cmp(&(&b.file, b.offset)));
    Ok(report)
}
