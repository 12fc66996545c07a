//! A hybrid logical clock: the source of the [`Version`]s protocol v2 puts
//! and deletes carry.
//!
//! Versions must be totally ordered, must grow with real time (so "newest"
//! means what a user expects) and must never go backwards on one writer,
//! even when its wall clock is stepped back by NTP. A hybrid logical clock
//! (Kulkarni et al., 2014) gives all three: a reading is the wall clock in
//! milliseconds in the high 48 bits and a logical counter in the low 16 bits,
//! packed in one `u64`; the next reading is the larger of "now, counter 0"
//! and "last reading + 1". Packing makes that one integer comparison, and a
//! counter overflow simply carries into the millisecond field. A writer that
//! sees a newer timestamp from elsewhere ([`Hlc::observe`]) moves past it, so
//! its next write orders after what it read. The clock itself is injected
//! ([`Clock`]), which lets tests step time backwards.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::version::Version;

/// Bits of a reading given to the logical counter.
pub const LOGICAL_BITS: u32 = 16;
/// Largest wall-clock value a reading can hold: 2^48 - 1 ms (year 10889).
pub const MAX_PHYSICAL_MS: u64 = (1 << (64 - LOGICAL_BITS)) - 1;
/// Default of `--max-clock-offset`: how far ahead of a server's clock a
/// write's version may be ([`OffsetGuard`]). Ordinary NTP skew (tens of
/// milliseconds, a few hundred after a VM pause) stays under it and is
/// absorbed by the client re-stamping superseded writes; a clock further
/// off is refused with the reason. CockroachDB's `--max-offset` is 500 ms
/// too; `docs/RELIABILITY.md` gives the measurements behind the choice.
pub const DEFAULT_MAX_CLOCK_OFFSET_MS: u64 = 500;
/// Default for [`Hlc::with_max_drift`]: how far ahead of the local clock a
/// remote timestamp may be and still be adopted by [`Hlc::observe`]. Far
/// more than the offset on purpose: servers keep no version more than their
/// offset ahead of their own clocks, so a newer version seen is the mark of
/// a clock *behind*, which a hybrid clock corrects by adopting it; only a
/// clock off by more than this is told to fix its time.
pub const DEFAULT_MAX_DRIFT_MS: u64 = 60_000;

/// Packs a wall-clock reading and a logical counter into a timestamp. A
/// physical part beyond [`MAX_PHYSICAL_MS`] is clamped to it.
pub fn pack(physical_ms: u64, logical: u16) -> u64 {
    (physical_ms.min(MAX_PHYSICAL_MS) << LOGICAL_BITS) | u64::from(logical)
}

/// The wall-clock milliseconds of a timestamp.
pub fn physical_ms(timestamp: u64) -> u64 {
    timestamp >> LOGICAL_BITS
}

/// The logical counter of a timestamp.
pub fn logical(timestamp: u64) -> u16 {
    (timestamp & 0xffff) as u16
}

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync {
    /// The current time in milliseconds since 1970-01-01 UTC.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock ([`SystemTime`]); 0 before 1970.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }
}

/// A clock set by hand: for tests (of the clock, of tombstone purging, of
/// authentication windows) that need time to jump, stand still or go back.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `ms`.
    pub fn new(ms: u64) -> ManualClock {
        ManualClock(AtomicU64::new(ms))
    }

    /// Sets the reading (backwards too).
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// Moves the reading forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The system clock shifted by an adjustable offset: a client's clock set
/// wrong on purpose, to show (REPL `skew`) and to test (chaos tests, per
/// client) what a clock ahead or behind does to versions.
#[derive(Debug, Default)]
pub struct SkewedClock {
    offset_ms: AtomicI64,
}

impl SkewedClock {
    /// The system clock moved by `offset_ms` (negative: behind).
    pub fn new(offset_ms: i64) -> SkewedClock {
        SkewedClock {
            offset_ms: AtomicI64::new(offset_ms),
        }
    }

    /// The offset now, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::SeqCst)
    }

    /// Sets the offset.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::SeqCst);
    }
}

impl Clock for SkewedClock {
    fn now_ms(&self) -> u64 {
        let now = SystemClock.now_ms();
        let offset = self.offset_ms();
        if offset >= 0 {
            now.saturating_add(offset.unsigned_abs())
        } else {
            now.saturating_sub(offset.unsigned_abs())
        }
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// Why [`Hlc::observe`] did not adopt a remote timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("remote clock {remote_ms} ms is more than {max_drift_ms} ms ahead of local {local_ms} ms")]
pub struct TooFarAhead {
    /// Wall-clock part of the remote timestamp.
    pub remote_ms: u64,
    /// The local clock's reading.
    pub local_ms: u64,
    /// The drift allowed.
    pub max_drift_ms: u64,
}

/// A hybrid logical clock issuing [`Version`]s for one writer. Shareable
/// between threads (`&self` everywhere, one atomic word of state).
#[derive(Debug)]
pub struct Hlc<C: Clock = SystemClock> {
    clock: C,
    writer: u64,
    max_drift_ms: u64,
    last: AtomicU64,
}

impl Hlc<SystemClock> {
    /// A clock on the system's wall clock for `writer`.
    pub fn system(writer: u64) -> Hlc<SystemClock> {
        Hlc::new(writer, SystemClock)
    }
}

impl<C: Clock> Hlc<C> {
    /// A clock for `writer` reading time from `clock`, with the default
    /// drift bound [`DEFAULT_MAX_DRIFT_MS`].
    pub fn new(writer: u64, clock: C) -> Hlc<C> {
        Hlc {
            clock,
            writer,
            max_drift_ms: DEFAULT_MAX_DRIFT_MS,
            last: AtomicU64::new(0),
        }
    }

    /// Sets how far ahead of the local clock a timestamp passed to
    /// [`Hlc::observe`] may be: one from a badly set clock further ahead is
    /// refused, so it cannot drag every later version into the future.
    pub fn with_max_drift(mut self, max_drift_ms: u64) -> Hlc<C> {
        self.max_drift_ms = max_drift_ms;
        self
    }

    /// The writer id stamped on every version.
    pub fn writer(&self) -> u64 {
        self.writer
    }

    /// The clock read.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The wall clock's reading now, in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Forgets every timestamp issued or observed: the next reading is the
    /// wall clock's. For a clock deliberately set back (REPL `skew`), as a
    /// restarted process would start; versions of this writer may then go
    /// back, which the servers' OLDER replies and re-stamping absorb.
    pub fn reset(&self) {
        self.last.store(0, Ordering::SeqCst);
    }

    /// The last timestamp issued or observed (0 before the first).
    pub fn last(&self) -> u64 {
        self.last.load(Ordering::SeqCst)
    }

    /// A new timestamp, strictly greater than every one issued or observed
    /// before, and at least the wall clock's reading. Saturates at
    /// `u64::MAX` (reached only by observing it, which the drift bound
    /// prevents).
    pub fn tick(&self) -> u64 {
        let now = pack(self.clock.now_ms(), 0);
        let next = |last: u64| now.max(last.saturating_add(1));
        let previous = self
            .last
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| Some(next(last)))
            .unwrap_or_else(|last| last);
        next(previous)
    }

    /// A new version for this writer: [`Hlc::tick`] plus the writer id.
    pub fn version(&self) -> Version {
        Version {
            timestamp: self.tick(),
            writer: self.writer,
        }
    }

    /// Merges a timestamp seen elsewhere (a version read from a server): every
    /// later [`Hlc::tick`] is greater than it. A timestamp whose wall-clock
    /// part is more than the drift bound ahead of the local clock is not
    /// adopted.
    pub fn observe(&self, remote: u64) -> Result<(), TooFarAhead> {
        let local_ms = self.clock.now_ms();
        let remote_ms = physical_ms(remote);
        if remote_ms > local_ms.saturating_add(self.max_drift_ms) {
            return Err(TooFarAhead {
                remote_ms,
                local_ms,
                max_drift_ms: self.max_drift_ms,
            });
        }
        self.last.fetch_max(remote, Ordering::SeqCst);
        Ok(())
    }
}

/// Why a server refused a write: its version is further ahead of the
/// server's clock than the maximum offset allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("version {version_ms} ms is {} ms ahead of the server's clock {server_ms} ms (max offset {max_offset_ms} ms)", version_ms.saturating_sub(*server_ms))]
pub struct ClockAhead {
    /// Wall-clock part of the refused version.
    pub version_ms: u64,
    /// The server's clock when it refused.
    pub server_ms: u64,
    /// The server's maximum clock offset.
    pub max_offset_ms: u64,
}

/// A server's maximum clock offset (`--max-clock-offset`) and what it has
/// seen: the largest amount a write's version was ahead of its clock, and
/// how many writes it refused for it. Shared by the receive loops (atomics,
/// no lock).
#[derive(Debug)]
pub struct OffsetGuard {
    max_offset_ms: u64,
    largest_ahead_ms: AtomicU64,
    refused: AtomicU64,
}

impl Default for OffsetGuard {
    fn default() -> OffsetGuard {
        OffsetGuard::new(DEFAULT_MAX_CLOCK_OFFSET_MS)
    }
}

impl OffsetGuard {
    /// A guard refusing versions more than `max_offset_ms` ahead.
    pub fn new(max_offset_ms: u64) -> OffsetGuard {
        OffsetGuard {
            max_offset_ms,
            largest_ahead_ms: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The maximum offset.
    pub fn max_offset_ms(&self) -> u64 {
        self.max_offset_ms
    }

    /// Checks a write's version against the clock reading `now_ms`,
    /// remembering how far ahead it was; `Err` (counted) when too far.
    pub fn check(&self, timestamp: u64, now_ms: u64) -> Result<(), ClockAhead> {
        let version_ms = physical_ms(timestamp);
        let ahead = version_ms.saturating_sub(now_ms);
        self.largest_ahead_ms.fetch_max(ahead, Ordering::Relaxed);
        if ahead > self.max_offset_ms {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(ClockAhead {
                version_ms,
                server_ms: now_ms,
                max_offset_ms: self.max_offset_ms,
            });
        }
        Ok(())
    }

    /// Whether a version is within the offset, without counting it (records
    /// from other replicas, which were checked when first written).
    pub fn allows(&self, timestamp: u64, now_ms: u64) -> bool {
        physical_ms(timestamp).saturating_sub(now_ms) <= self.max_offset_ms
    }

    /// The largest amount, in ms, a write's version was ahead of this
    /// server's clock (0 when none was ahead).
    pub fn largest_ahead_ms(&self) -> u64 {
        self.largest_ahead_ms.load(Ordering::Relaxed)
    }

    /// Writes refused for a version too far ahead.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn clock_at(ms: u64) -> (Arc<ManualClock>, Hlc<Arc<ManualClock>>) {
        let clock = Arc::new(ManualClock::new(ms));
        let hlc = Hlc::new(7, Arc::clone(&clock));
        (clock, hlc)
    }

    #[test]
    fn packing() {
        let t = pack(1_700_000_000_123, 5);
        assert_eq!(physical_ms(t), 1_700_000_000_123);
        assert_eq!(logical(t), 5);
        assert_eq!(pack(u64::MAX, 1), (MAX_PHYSICAL_MS << 16) | 1);
        assert!(pack(10, u16::MAX) < pack(11, 0));
    }

    #[test]
    fn follows_the_wall_clock() {
        let (clock, hlc) = clock_at(1000);
        assert_eq!(hlc.tick(), pack(1000, 0));
        clock.advance(5);
        assert_eq!(hlc.tick(), pack(1005, 0));
        let v = hlc.version();
        assert_eq!(v.writer, 7);
        assert_eq!(v.timestamp, pack(1005, 1));
    }

    #[test]
    fn counts_within_a_millisecond() {
        let (_, hlc) = clock_at(1000);
        let ticks: Vec<u64> = (0..5).map(|_| hlc.tick()).collect();
        assert_eq!(ticks, (0..5).map(|i| pack(1000, i)).collect::<Vec<_>>());
    }

    #[test]
    fn monotonic_when_the_clock_goes_back() {
        let (clock, hlc) = clock_at(5000);
        let a = hlc.tick();
        clock.set(4000);
        let b = hlc.tick();
        let c = hlc.tick();
        assert!(a < b && b < c);
        assert_eq!(b, pack(5000, 1));
        clock.set(6000);
        assert_eq!(hlc.tick(), pack(6000, 0));
    }

    #[test]
    fn counter_overflow_carries_into_the_milliseconds() {
        let (_, hlc) = clock_at(1000);
        hlc.observe(pack(1000, u16::MAX)).unwrap();
        assert_eq!(hlc.tick(), pack(1001, 0));
    }

    #[test]
    fn observe_moves_past_a_remote_timestamp() {
        let (clock, hlc) = clock_at(1000);
        hlc.observe(pack(30_000, 4)).unwrap();
        assert_eq!(hlc.last(), pack(30_000, 4));
        assert_eq!(hlc.tick(), pack(30_000, 5));
        // An older remote timestamp changes nothing.
        hlc.observe(pack(10, 0)).unwrap();
        assert_eq!(hlc.tick(), pack(30_000, 6));
        clock.set(40_000);
        assert_eq!(hlc.tick(), pack(40_000, 0));
    }

    #[test]
    fn observe_refuses_a_clock_too_far_ahead() {
        let (_, hlc) = clock_at(1000);
        let hlc = hlc.with_max_drift(500);
        assert!(hlc.observe(pack(1500, 9)).is_ok());
        let e = hlc.observe(pack(1501, 0)).unwrap_err();
        assert_eq!(e.remote_ms, 1501);
        assert_eq!(hlc.tick(), pack(1500, 10));
        assert!(hlc.observe(u64::MAX).is_err());
    }

    #[test]
    fn saturates_instead_of_wrapping() {
        let (_, hlc) = clock_at(u64::MAX);
        let hlc = hlc.with_max_drift(u64::MAX);
        hlc.observe(u64::MAX).unwrap();
        assert_eq!(hlc.tick(), u64::MAX);
    }

    #[test]
    fn system_clock_is_after_2020() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
        let hlc = Hlc::system(1);
        assert!(physical_ms(hlc.tick()) > 1_577_836_800_000);
    }

    #[test]
    fn unique_across_threads() {
        let (_, hlc) = clock_at(1000);
        let hlc = Arc::new(hlc);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let hlc = Arc::clone(&hlc);
                std::thread::spawn(move || (0..1000).map(|_| hlc.tick()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<u64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4000);
    }

    #[test]
    fn the_guard_refuses_past_the_offset_and_remembers_the_largest() {
        let g = OffsetGuard::new(500);
        assert_eq!(g.check(pack(1000, 3), 1000), Ok(()));
        assert_eq!(g.check(pack(1500, 0), 1000), Ok(()));
        assert_eq!(g.largest_ahead_ms(), 500);
        let e = g.check(pack(21_100, 0), 1000).unwrap_err();
        assert_eq!(
            (e.version_ms, e.server_ms, e.max_offset_ms),
            (21_100, 1000, 500)
        );
        assert_eq!((g.largest_ahead_ms(), g.refused()), (20_100, 1));
        // Behind is never refused, and does not count as ahead.
        assert_eq!(g.check(pack(10, 0), 1000), Ok(()));
        assert!(g.allows(pack(1500, 9), 1000) && !g.allows(pack(1501, 0), 1000));
        assert!(g.check(u64::MAX, 1000).is_err());
        assert_eq!(g.refused(), 2);
    }

    #[test]
    fn a_skewed_clock_moves_both_ways_and_a_reset_follows_it() {
        let real = SystemClock.now_ms();
        let c = SkewedClock::new(5000);
        assert!(c.now_ms() >= real + 5000);
        c.set_offset_ms(-5000);
        assert!(c.now_ms() < real);
        let hlc = Hlc::new(1, SkewedClock::new(60_000));
        let ahead = hlc.tick();
        hlc.clock().set_offset_ms(0);
        assert!(hlc.tick() > ahead, "monotonic until reset");
        hlc.reset();
        assert!(hlc.tick() < ahead);
    }
}
