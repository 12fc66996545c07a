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

/// Which engine a new data directory gets (`dkvs-server --engine`); an
/// existing directory keeps the one its `FORMAT` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EngineKind {
    /// Append-only segments, a checksum per record checked on every read,
    /// compaction in the background (the default)
    #[default]
    Log,
    /// A redb B-tree with a write-ahead log (the engine of directories
    /// created before the log engine)
    Redb,
}

impl EngineKind {
    /// `log` or `redb`, as `--engine` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Log => "log",
            EngineKind::Redb => "redb",
        }
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// empty) directory gets `options.engine`.
    pub fn open(options: &DurableOptions) -> Result<DiskEngine, EngineError> {
        let format = std::fs::read(options.dir.join(FORMAT_FILE)).ok();
        let log = match format {
            Some(text) => text == LOG_FORMAT.as_bytes(),
            None => options.engine == EngineKind::Log,
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

    /// The engine this directory runs on.
    pub fn kind(&self) -> EngineKind {
        match self {
            DiskEngine::Redb(_) => EngineKind::Redb,
            DiskEngine::Log(_) => EngineKind::Log,
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

    /// True when a put may be applied on the receive loop that got it
    /// instead of going through the committer: the log engine when no
    /// acknowledgement waits for a sync (`periodic`, `none`). A put is then
    /// one `pwrite` into the page cache, cheaper than handing it to another
    /// thread. redb commits a transaction per call, so it always batches.
    pub fn puts_inline(&self) -> bool {
        match self {
            DiskEngine::Redb(_) => false,
            DiskEngine::Log(e) => e.sync_policy() != SyncPolicy::Always,
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn open(dir: &Path, engine: EngineKind) -> DiskEngine {
        DiskEngine::open(&DurableOptions {
            engine,
            ..DurableOptions::new(dir)
        })
        .unwrap()
    }

    /// `--engine` picks the engine of a new directory only; an existing
    /// one keeps the engine its `FORMAT` names.
    #[test]
    fn new_directories_get_the_chosen_engine_and_old_ones_keep_theirs() {
        let tmp = tempfile::tempdir().unwrap();
        let (log, redb) = (tmp.path().join("log"), tmp.path().join("redb"));
        assert_eq!(DurableOptions::new(&log).engine, EngineKind::Log);
        assert_eq!(open(&log, EngineKind::default()).kind(), EngineKind::Log);
        assert_eq!(open(&redb, EngineKind::Redb).kind(), EngineKind::Redb);
        assert_eq!(open(&redb, EngineKind::Log).kind(), EngineKind::Redb);
        assert_eq!(open(&log, EngineKind::Redb).kind(), EngineKind::Log);
        assert_eq!(EngineKind::Redb.to_string(), "redb");
    }

    /// Only the log engine without a sync per acknowledgement writes on
    /// the receive loop.
    #[test]
    fn puts_are_inline_only_for_the_log_engine_without_sync_always() {
        let tmp = tempfile::tempdir().unwrap();
        for (engine, sync, inline) in [
            (EngineKind::Log, SyncPolicy::Always, false),
            (EngineKind::Log, SyncPolicy::Periodic, true),
            (EngineKind::Log, SyncPolicy::None, true),
            (EngineKind::Redb, SyncPolicy::Periodic, false),
            (EngineKind::Redb, SyncPolicy::None, false),
        ] {
            let dir = tmp.path().join(format!("{engine}-{sync}"));
            let disk = DiskEngine::open(&DurableOptions {
                engine,
                sync,
                ..DurableOptions::new(&dir)
            })
            .unwrap();
            assert_eq!(disk.puts_inline(), inline, "{engine} {sync}");
        }
    }
}
