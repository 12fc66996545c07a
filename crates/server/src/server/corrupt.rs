//! A get whose stored record failed its check
//! ([`EngineError::CorruptRecord`], issue 18): answered with a refusal —
//! v2 REFUSED 12 *corrupt*, v1's empty datagram — never with a value and
//! never "not found", so a client reads the key from the other replicas
//! and its read repair refills this one. Each refusal is counted
//! (`refused_corrupt`); it is logged at error level at most once per key
//! per [`LOG_EVERY`], and at most [`TRACKED`] keys at a time, so a client
//! retrying a bad key (or a disk full of them) cannot flood the log.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::EngineError;
use crate::limits::Stats;

/// The shortest time between two log lines about the same key.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Keys remembered at once; a corrupt read of another key while this many
/// were logged within [`LOG_EVERY`] is counted but not logged.
pub const TRACKED: usize = 1024;

/// Which keys were logged when, for the whole process (one server per
/// process in production; servers sharing a process share the limit).
static LOGGED: Mutex<LogLimiter> = Mutex::new(LogLimiter::new());

/// When `e` is a corrupt record: counts the refusal in `stats`, logs it
/// unless the key was logged within [`LOG_EVERY`], and returns true (the
/// caller answers with the refusal). Any other error: false.
pub(super) fn refused(e: &EngineError, stats: &Stats) -> bool {
    let EngineError::CorruptRecord { key, .. } = e else {
        return false;
    };
    Stats::bump(&stats.refused_corrupt);
    let admitted = LOGGED
        .lock()
        .map_or(Some(0), |mut l| l.admit(key, Instant::now()));
    if let Some(suppressed) = admitted {
        tracing::error!(
            error = %e,
            suppressed,
            "refused a get: the stored record failed its check (read repair \
             or anti-entropy will refill it from the replicas)"
        );
    }
    true
}

/// Which keys were logged when ([`refused`]).
#[derive(Debug)]
struct LogLimiter {
    /// Keys logged within [`LOG_EVERY`] (older ones are pruned when full).
    logged: BTreeMap<Box<[u8]>, Instant>,
    /// Corrupt reads not logged since the last line.
    suppressed: u64,
}

impl LogLimiter {
    const fn new() -> LogLimiter {
        LogLimiter {
            logged: BTreeMap::new(),
            suppressed: 0,
        }
    }

    /// Whether a corrupt read of `key` at `now` is logged: `Some(n)` with
    /// the number of reads left unlogged since the previous line, or `None`
    /// (counted among those).
    fn admit(&mut self, key: &[u8], now: Instant) -> Option<u64> {
        let recent = |at: &Instant| now.saturating_duration_since(*at) < LOG_EVERY;
        if self.logged.get(key).is_some_and(recent) {
            self.suppressed += 1;
            return None;
        }
        if self.logged.len() >= TRACKED && !self.logged.contains_key(key) {
            self.logged.retain(|_, at| recent(at));
            if self.logged.len() >= TRACKED {
                self.suppressed += 1;
                return None;
            }
        }
        self.logged.insert(key.into(), now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn corrupt(key: &[u8]) -> EngineError {
        EngineError::CorruptRecord {
            key: key.into(),
            file: "0.seg".into(),
            offset: 7,
            reason: "checksum mismatch".into(),
        }
    }

    #[test]
    fn a_key_is_logged_once_a_minute() {
        let mut l = LogLimiter::new();
        let t = Instant::now();
        assert_eq!(l.admit(b"a", t), Some(0));
        assert_eq!(l.admit(b"a", t + Duration::from_secs(1)), None);
        assert_eq!(l.admit(b"a", t + Duration::from_secs(59)), None);
        assert_eq!(l.admit(b"b", t + Duration::from_secs(59)), Some(2));
        assert_eq!(l.admit(b"a", t + LOG_EVERY), Some(0));
    }

    #[test]
    fn keys_tracked_are_bounded() {
        let mut l = LogLimiter::new();
        let t = Instant::now();
        for i in 0..TRACKED {
            assert!(l.admit(&i.to_be_bytes(), t).is_some());
        }
        assert_eq!(l.admit(b"one more", t), None);
        assert_eq!(l.logged.len(), TRACKED);
        // A minute later the old entries make room.
        assert_eq!(l.admit(b"one more", t + LOG_EVERY), Some(1));
        assert_eq!(l.logged.len(), 1);
    }

    #[test]
    fn only_corrupt_records_are_refused_and_counted() {
        let stats = Stats::default();
        assert!(refused(&corrupt(b"k"), &stats));
        assert!(refused(&corrupt(b"k"), &stats));
        assert!(!refused(&EngineError::other("db unavailable"), &stats));
        let io = EngineError::io("cannot read", std::io::Error::other("eio"));
        assert!(!refused(&io, &stats));
        assert_eq!(stats.snapshot().refused_corrupt, 2);
    }
}
