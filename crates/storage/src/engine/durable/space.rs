//! The space the engine may use: the `--max-disk` limit on accounted bytes
//! and the free-space reserve it keeps on the disk, checked for each put.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::{PutResults, Refused};
use super::DurableEngine;

/// Bytes accounted for each pair beyond its key and encoded record (redb's
/// per-entry and page overhead, roughly).
pub const DISK_PAIR_OVERHEAD: u64 = 64;

/// The accounted size of one pair on disk.
pub fn disk_pair_size(key: &[u8], record_len: usize) -> u64 {
    key.len() as u64 + record_len as u64 + DISK_PAIR_OVERHEAD
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

/// Bytes free for an unprivileged writer on the file system holding
/// `dir` (`None` when it cannot be read).
pub(crate) fn free_bytes(dir: &Path) -> Option<u64> {
    disk_space(dir).map(|(free, _)| free)
}

/// What a batch of puts may still take: the size limit and the room left
/// on the disk above its reserve.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Room {
    /// The size limit in accounted bytes.
    limit: u64,
    /// Bytes that may still be written before the reserve is reached.
    room: u64,
    /// The reserve kept free ([`disk_reserve`]).
    reserve: u64,
    /// Bytes written per accounted byte before the space is reclaimed
    /// (3 for redb, copy-on-write plus the log; see [`Room::admit`]).
    factor: u64,
}

impl Room {
    /// The room of a batch being served: `limit` and the free space of the
    /// file system holding `dir` (unbounded when it cannot be read).
    pub(crate) fn serving(dir: &Path, limit: u64) -> Room {
        match disk_space(dir) {
            Some((free, total)) => {
                let reserve = disk_reserve(total);
                Room {
                    limit,
                    room: free.saturating_sub(reserve),
                    reserve,
                    factor: 3,
                }
            }
            None => Room {
                limit,
                room: u64::MAX,
                reserve: 0,
                factor: 3,
            },
        }
    }

    /// Bytes that may still be written before the reserve is reached.
    pub(crate) fn left(&self) -> u64 {
        self.room
    }

    /// No limit at all (a replay stores what was acknowledged).
    pub(super) fn unlimited() -> Room {
        Room {
            limit: u64::MAX,
            room: u64::MAX,
            reserve: 0,
            factor: 3,
        }
    }

    /// The same room for an engine writing `factor` bytes per accounted
    /// byte until its space is reclaimed.
    pub(crate) fn with_factor(self, factor: u64) -> Room {
        Room { factor, ..self }
    }

    /// Admits a pair going from `old` to `new_size` accounted bytes while
    /// `used` are in use: the bytes then in use, or the refusal. Each put
    /// costs its log entry and, redb being copy-on-write, up to twice its
    /// size in pages until a checkpoint.
    pub(crate) fn admit(&mut self, used: u64, old: u64, new_size: u64) -> Result<u64, Refused> {
        let next = used.saturating_sub(old).saturating_add(new_size);
        if new_size > old && next > self.limit {
            return Err(Refused::Full { limit: self.limit });
        }
        let cost = self.factor.saturating_mul(new_size);
        if cost > self.room {
            return Err(Refused::NoSpace {
                free: self.room.saturating_add(self.reserve),
                reserve: self.reserve,
            });
        }
        self.room -= cost;
        Ok(next)
    }
}

impl DurableEngine {
    /// [`warn_no_space`] for this engine.
    pub(super) fn warn_no_space(&self, results: &PutResults) {
        warn_no_space(&self.dir, &self.warned_full, results);
    }
}

/// Logs the first "disk nearly full" refusal of `results` for the data
/// directory `dir`, at most once every 10 s (`warned`: when it last was).
pub(crate) fn warn_no_space(dir: &Path, warned: &Mutex<Option<Instant>>, results: &PutResults) {
    if let Some(Err(e)) = results
        .iter()
        .find(|r| matches!(r, Err(Refused::NoSpace { .. })))
        && let Ok(mut warned) = warned.lock()
        && warned.is_none_or(|at| at.elapsed() >= Duration::from_secs(10))
    {
        *warned = Some(Instant::now());
        tracing::warn!(dir = %dir.display(), "puts refused: {e}");
    }
}
