//! `dkvs-server --check DIR`: the offline check of a data directory, like
//! `redis-check-aof`. Why a tool of its own: a running server checks every
//! record it reads, but only an offline pass over every file finds the
//! damage in records nobody reads, before a replica is lost too.
//!
//! It opens nothing for writing and creates nothing in DIR. It takes a
//! shared lock on `LOCK` when that file exists and no server holds it, so
//! a server cannot start and compact under the check; when a server holds
//! it the check still runs (read-only) and says so (DECISIONS #830).
//!
//! A log-engine directory is read entry by entry ([`crate::engine::log::check_dir`]).
//! A redb-engine directory (one created before the log engine) gets redb's
//! own integrity check, run on a copy of `dkvs.redb` in a temporary
//! directory because redb repairs the file it checks, then every record of
//! the copy decoded.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::engine::durable::{DB_FILE, FORMAT_FILE, FORMAT_TEXT as REDB_FORMAT, LOCK_FILE};
use crate::engine::log::{FORMAT_TEXT as LOG_FORMAT, Report, check_dir};
use crate::exit;

/// Why DIR cannot be checked (exit status [`exit::CONFIG`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotADataDir(String);

/// What the check found, ready to print.
#[derive(Debug, Default)]
pub struct Outcome {
    /// One line per bad record, then the summary line.
    pub lines: Vec<String>,
    /// True when any damage was found.
    pub damaged: bool,
}

/// Runs the check of `dir`, printing what it finds on stdout (errors on
/// stderr); returns the exit status: 0 clean, 1 damage found,
/// [`exit::CONFIG`] when `dir` is not a dkvs data directory.
pub fn run(dir: &Path) -> u8 {
    match check(dir) {
        Ok(outcome) => {
            let mut out = std::io::stdout().lock();
            for line in &outcome.lines {
                if writeln!(out, "{line}").is_err() {
                    return exit::FAILED;
                }
            }
            if outcome.damaged {
                exit::FAILED
            } else {
                exit::OK
            }
        }
        Err(e) => {
            eprintln!("ERROR: {e}");
            exit::CONFIG
        }
    }
}

/// Checks `dir` (see the module comment).
pub fn check(dir: &Path) -> Result<Outcome, NotADataDir> {
    if !dir.is_dir() {
        return Err(NotADataDir(format!("{} is not a directory", dir.display())));
    }
    let format = match std::fs::read(dir.join(FORMAT_FILE)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(NotADataDir(format!(
                "{} is not a dkvs data directory (no {FORMAT_FILE} file)",
                dir.display()
            )));
        }
        Err(e) => {
            return Err(NotADataDir(format!(
                "cannot read {}: {e}",
                dir.join(FORMAT_FILE).display()
            )));
        }
    };
    let (mut lines, lock) = lock_note(dir);
    let mut outcome = if format == LOG_FORMAT.as_bytes() {
        check_log(dir)?
    } else if format == REDB_FORMAT.as_bytes() {
        check_redb(dir)
    } else {
        return Err(NotADataDir(format!(
            "{} is not a data directory of this dkvs version: its {FORMAT_FILE} file says {:?}",
            dir.display(),
            String::from_utf8_lossy(&format)
        )));
    };
    drop(lock);
    lines.append(&mut outcome.lines);
    outcome.lines = lines;
    Ok(outcome)
}

/// Takes the shared lock on `LOCK` if it exists (read-only open); the
/// note to print first when a server holds it.
fn lock_note(dir: &Path) -> (Vec<String>, Option<std::fs::File>) {
    let Ok(file) = std::fs::File::open(dir.join(LOCK_FILE)) else {
        return (Vec::new(), None);
    };
    match file.try_lock_shared() {
        Ok(()) => (Vec::new(), Some(file)),
        Err(_) => (
            vec![format!(
                "note: a server is using {} (its {LOCK_FILE} is held): the newest segment may grow while it is read, \
                 and a write in progress can show as a torn end",
                dir.display()
            )],
            None,
        ),
    }
}

/// A key as printed: itself when printable ASCII, else escaped.
fn show_key(key: &[u8]) -> String {
    key.escape_ascii().to_string()
}

/// The log engine's directory: every segment and hint.
fn check_log(dir: &Path) -> Result<Outcome, NotADataDir> {
    let report =
        check_dir(dir).map_err(|e| NotADataDir(format!("cannot check {}: {e}", dir.display())))?;
    Ok(log_outcome(&report))
}

/// The lines for a log check's report.
fn log_outcome(report: &Report) -> Outcome {
    let mut lines = Vec::new();
    let mut files: Vec<&str> = Vec::new();
    for bad in &report.bad {
        let mut line = format!("{}: offset {} ({} bytes)", bad.file, bad.offset, bad.len);
        if let Some(key) = &bad.key {
            let _ = write!(line, ", key \"{}\"", show_key(key));
        }
        let _ = write!(line, ": {}", bad.reason);
        lines.push(line);
        files.push(&bad.file);
    }
    for hint in &report.bad_hints {
        lines.push(format!(
            "{hint}: hint file fails its check (ignored at start: its segment is scanned instead, nothing is lost)"
        ));
        files.push(hint);
    }
    files.sort_unstable();
    files.dedup();
    let bad = report.bad.len() + report.bad_hints.len();
    lines.push(format!(
        "{} records, {bad} bad in {} files ({} segments; engine log)",
        report.entries,
        files.len(),
        report.segments
    ));
    Outcome {
        lines,
        damaged: !report.is_clean(),
    }
}

/// The redb engine's directory: redb's integrity check on a copy, then
/// every record of the copy decoded.
fn check_redb(dir: &Path) -> Outcome {
    let scratch = Scratch::new();
    let result = scratch
        .as_ref()
        .map_err(|e| format!("cannot make a temporary directory: {e}"))
        .and_then(|s| {
            let copy = s.0.join(DB_FILE);
            std::fs::copy(dir.join(DB_FILE), &copy)
                .map_err(|e| format!("cannot copy {}: {e}", dir.join(DB_FILE).display()))?;
            // redb may panic on a damaged file (issue 18): a panic is
            // damage found, not a crash of the check (and not printed).
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let checked = std::panic::catch_unwind(|| redb_check(&copy));
            std::panic::set_hook(hook);
            checked.unwrap_or_else(|payload| {
                let why = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("no message");
                Err(format!(
                    "redb failed reading the file ({why}): it is damaged"
                ))
            })
        });
    let (mut lines, damaged) = match result {
        Ok(outcome) => (outcome.lines, outcome.damaged),
        Err(e) => (
            vec![
                format!("{DB_FILE}: {e}"),
                "records not counted, damage in 1 files (engine redb)".into(),
            ],
            true,
        ),
    };
    let (mut wal_lines, wal_damaged) = check_wal(dir);
    lines.append(&mut wal_lines);
    lines.push(
        "note: engine redb: redb checks its pages' checksums here, but a running server does not on \
         each read (docs/STORAGE.md)"
            .into(),
    );
    Outcome {
        lines,
        damaged: damaged || wal_damaged,
    }
}

/// The redb engine's write-ahead log, read only: each entry is `len`
/// (u32 LE), CRC-32 of the payload (u32 LE), payload (key length u32 LE,
/// key, record); the puts since the last checkpoint.
fn check_wal(dir: &Path) -> (Vec<String>, bool) {
    use crate::engine::wal::{WAL_FILE, crc32};
    let bytes = match std::fs::read(dir.join(WAL_FILE)) {
        Ok(b) => b,
        Err(e) => return (vec![format!("{WAL_FILE}: cannot read it: {e}")], true),
    };
    let word = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(b)).ok()
    };
    let (mut at, mut entries) = (0usize, 0u64);
    let mut lines = Vec::new();
    while at < bytes.len() {
        let payload = word(at).zip(word(at + 4)).and_then(|(len, crc)| {
            let p = bytes.get(at + 8..(at + 8).checked_add(len)?)?;
            (crc32(p) == u32::try_from(crc).ok()?).then_some(p)
        });
        let Some(payload) = payload else {
            lines.push(format!(
                "{WAL_FILE}: offset {at} ({} bytes): bad entry and everything after it \
                 (a write torn by a crash if it is the end: cut at the next start; otherwise the \
                 start refuses the directory)",
                bytes.len() - at
            ));
            break;
        };
        entries += 1;
        let record = word(8 + at).and_then(|klen| payload.get(4usize.checked_add(klen)?..));
        if let Some(Err(e)) = record.map(crate::engine::decode_record) {
            lines.push(format!("{WAL_FILE}: offset {at}: {e}"));
        }
        at += 8 + payload.len();
    }
    let damaged = !lines.is_empty();
    lines.push(format!(
        "{WAL_FILE}: {entries} entries since the last checkpoint, {} bad",
        lines.len()
    ));
    (lines, damaged)
}

/// redb's check and the records of the (copied) database at `path`.
fn redb_check(path: &Path) -> Result<Outcome, String> {
    use redb::{ReadableDatabase as _, ReadableTable as _};
    const DATA: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("data");
    let mut db = redb::Database::open(path).map_err(|e| format!("redb cannot open it: {e}"))?;
    let mut lines = Vec::new();
    let mut damaged = match db.check_integrity() {
        Ok(true) => false,
        Ok(false) => {
            lines.push(format!(
                "{DB_FILE}: redb's integrity check failed and redb could repair it (records may be lost)"
            ));
            true
        }
        Err(e) => return Err(format!("redb's integrity check failed: {e}")),
    };
    let txn = db.begin_read().map_err(|e| e.to_string())?;
    let table = txn.open_table(DATA).map_err(|e| e.to_string())?;
    let (mut records, mut bad) = (0u64, 0u64);
    for item in table.iter().map_err(|e| e.to_string())? {
        records += 1;
        let (key, value) = item.map_err(|e| format!("cannot read record {records}: {e}"))?;
        if let Err(e) = crate::engine::decode_record(value.value()) {
            bad += 1;
            lines.push(format!("{DB_FILE}: key \"{}\": {e}", show_key(key.value())));
        }
    }
    damaged |= bad > 0;
    let files = usize::from(damaged);
    lines.push(format!(
        "{records} records, {bad} bad in {files} files (engine redb)"
    ));
    Ok(Outcome { lines, damaged })
}

/// A temporary directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!("dkvs-check-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&path)?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
