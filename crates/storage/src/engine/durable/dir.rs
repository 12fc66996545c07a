//! The data directory around the database: created durably, locked for
//! one server, and checked (or marked) as dkvs's before anything is written.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;

use super::super::EngineError;
use super::{CREATED_FILE, FORMAT_FILE, FORMAT_TEXT, LOCK_FILE};

/// Locks `dir/LOCK` for this process and writes our pid into it.
pub(crate) fn lock_dir(dir: &Path) -> Result<File, EngineError> {
    let path = dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| EngineError::io(format_args!("cannot open {}", path.display()), e))?;
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
            return Err(EngineError::Other(format!(
                "data directory {} is in use by another server{who}; one server per directory",
                dir.display()
            )));
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(EngineError::io(
                format_args!("cannot lock {}", path.display()),
                e,
            ));
        }
    }
    Ok(file)
}

/// Writes our pid into the locked `LOCK` file (once the directory is known
/// to be dkvs's), so that a second server can name the holder.
pub(crate) fn write_pid(dir: &Path, file: &mut File) -> Result<(), EngineError> {
    let pid = std::process::id().to_string();
    let written = file
        .set_len(0)
        .and_then(|()| file.write_all(pid.as_bytes()));
    written.map_err(|e| {
        EngineError::io(
            format_args!("cannot write {}", dir.join(LOCK_FILE).display()),
            e,
        )
    })
}

/// Creates `dir` and its missing parents, fsyncing the parent of each
/// directory created so that the new directory entries are durable.
pub(crate) fn create_dirs(dir: &Path) -> std::io::Result<()> {
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
pub(super) fn check_foreign(dir: &Path) -> Result<(), EngineError> {
    check_foreign_as(dir, FORMAT_TEXT)
}

/// [`check_foreign`] for an engine whose `FORMAT` text is `format`.
pub(crate) fn check_foreign_as(dir: &Path, format: &str) -> Result<(), EngineError> {
    let path = dir.join(FORMAT_FILE);
    match std::fs::read(&path) {
        Ok(text) if text == format.as_bytes() => Ok(()),
        Ok(text) => Err(EngineError::Other(format!(
            "{} is not a data directory of this dkvs version: its FORMAT file says {:?}, expected {:?}",
            dir.display(),
            String::from_utf8_lossy(text.get(..200).unwrap_or(&text)),
            format
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| EngineError::io(format_args!("cannot read {}", dir.display()), e))?;
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
            Err(EngineError::Other(format!(
                "{} is not a dkvs data directory (no {FORMAT_FILE} file, but it holds {}); \
                 give an empty or new directory",
                dir.display(),
                foreign.join(", ")
            )))
        }
        Err(e) => Err(EngineError::io(
            format_args!("cannot read {}", path.display()),
            e,
        )),
    }
}

/// Checks again, under the lock, that the directory is dkvs's or empty
/// (see [`check_foreign`]), and writes the `FORMAT` file in an empty one.
pub(super) fn check_format(dir: &Path) -> Result<(), EngineError> {
    check_format_as(dir, FORMAT_TEXT)
}

/// [`check_format`] for an engine whose `FORMAT` text is `format`.
pub(crate) fn check_format_as(dir: &Path, format: &str) -> Result<(), EngineError> {
    check_foreign_as(dir, format)?;
    if dir.join(FORMAT_FILE).exists() {
        return Ok(());
    }
    write_synced(dir, FORMAT_FILE, format.as_bytes())
}

/// Writes `dir/name` durably (temporary file, fsync, rename, fsync of the
/// directory).
pub(crate) fn write_synced(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), EngineError> {
    let tmp = dir.join(format!("{name}.tmp"));
    let path = dir.join(name);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    })();
    result.map_err(|e| EngineError::io(format_args!("cannot write {}", path.display()), e))
}

/// True once the directory has held a database (its `FORMAT` file exists
/// and a database was created: see [`init_db`]'s marker).
pub(super) fn has_data_marker(dir: &Path) -> bool {
    dir.join(FORMAT_FILE).exists() && dir.join(CREATED_FILE).exists()
}
