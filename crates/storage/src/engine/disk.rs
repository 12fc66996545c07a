//! The engine a `--data-dir` server runs on, whichever it is: the log
//! engine for new directories, redb for the directories it created before
//! issue 18 (their `FORMAT` names it). The server asks this one type for
//! what it needs beyond the [`Engine`] trait (directory, sync schedule,
//! what opening found), so it never names an engine.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::durable::FORMAT_FILE;
use super::log::{FORMAT_TEXT as LOG_FORMAT, LogOptions};
use super::{DurableEngine, DurableOptions, Engine, EngineError, LogEngine, SyncPolicy};

/// Whether a new data directory gets the log engine (else redb).
pub const NEW_DIRS_USE_LOG: bool = false;

/// A durable engine, by kind.
#[derive(Debug, Clone)]
pub enum DiskEngine {
    /// redb with a write-ahead log (directories created before issue 18).
    Redb(Arc<DurableEngine>),
    /// The log-structured engine.
    Log(Arc<LogEngine>),
}

/// What opening a data directory found, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    /// Keys found.
    pub keys: u64,
    /// Time taken to open.
    pub took: Duration,
}

impl DiskEngine {
    /// Opens `options.dir` with the engine its `FORMAT` names; a new (or
    /// empty) directory gets the log engine when [`NEW_DIRS_USE_LOG`].
    pub fn open(options: &DurableOptions) -> Result<DiskEngine, EngineError> {
        let format = std::fs::read(options.dir.join(FORMAT_FILE)).ok();
        let log = match format {
            Some(text) => text == LOG_FORMAT.as_bytes(),
            None => NEW_DIRS_USE_LOG,
        };
        Ok(if log {
            DiskEngine::Log(Arc::new(LogEngine::open(&LogOptions::new(
                options.clone(),
            ))?))
        } else {
            DiskEngine::Redb(Arc::new(DurableEngine::open(options)?))
        })
    }

    /// The engine, for reads and the committer.
    pub fn engine(&self) -> Arc<dyn Engine> {
        match self {
            DiskEngine::Redb(e) => Arc::clone(e) as Arc<dyn Engine>,
            DiskEngine::Log(e) => Arc::clone(e) as Arc<dyn Engine>,
        }
    }

    /// `log` or `redb`.
    pub fn kind(&self) -> &'static str {
        match self {
            DiskEngine::Redb(_) => "redb",
            DiskEngine::Log(_) => "log",
        }
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        match self {
            DiskEngine::Redb(e) => e.dir(),
            DiskEngine::Log(e) => e.dir(),
        }
    }

    /// The sync policy in force.
    pub fn sync_policy(&self) -> SyncPolicy {
        match self {
            DiskEngine::Redb(e) => e.sync_policy(),
            DiskEngine::Log(e) => e.sync_policy(),
        }
    }

    /// How often the committer calls [`Engine::sync`] (`None`: never).
    pub fn sync_every(&self) -> Option<Duration> {
        match self {
            DiskEngine::Redb(e) => e.sync_every(),
            DiskEngine::Log(e) => e.sync_every(),
        }
    }

    /// Bytes on disk: the write-ahead log's (redb only) and the data's
    /// (redb's database file, or the log engine's segments).
    pub fn file_bytes(&self) -> (Option<u64>, Option<u64>) {
        let size = |file: &str| {
            std::fs::metadata(self.dir().join(file))
                .ok()
                .map(|m| m.len())
        };
        match self {
            DiskEngine::Redb(_) => (size(super::wal::WAL_FILE), size(super::durable::DB_FILE)),
            DiskEngine::Log(e) => (None, Some(e.disk_bytes())),
        }
    }

    /// Keys found and time taken when the directory was opened.
    pub fn opened(&self) -> Opened {
        match self {
            DiskEngine::Redb(e) => {
                let r = e.open_report();
                Opened {
                    keys: r.keys,
                    took: r.took,
                }
            }
            DiskEngine::Log(e) => {
                let r = e.open_report();
                Opened {
                    keys: r.keys,
                    took: r.took,
                }
            }
        }
    }
}
